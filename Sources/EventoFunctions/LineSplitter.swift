#if canImport(Glibc)
    import Glibc
#endif

/// Cuts a byte stream (a worker's stdout or stderr) into lines, looking at each byte once and never
/// holding more than `maxLine` bytes of an unfinished line.
///
/// Only the bytes of each new chunk are searched for a newline (searching the whole buffer again on every
/// chunk made a long unterminated line cost quadratic time). A line longer than `maxLine` is reported once
/// as `.overlong` with its first `maxLine` bytes; the rest of it, up to its newline, is dropped.
struct LineSplitter {
    enum Piece: Equatable {
        /// A complete line, without its newline.
        case line([UInt8])
        /// A line that passed `maxLine`: its first `maxLine` bytes.
        case overlong([UInt8])
    }

    let maxLine: Int
    private var partial: [UInt8] = []
    /// Dropping the rest of an over-long line, up to its newline.
    private var discarding = false

    init(maxLine: Int) {
        precondition(maxLine > 0)
        self.maxLine = maxLine
    }

    /// The bytes of the unfinished line held so far.
    var pendingCount: Int { partial.count }

    mutating func feed(_ chunk: UnsafeRawBufferPointer, _ emit: (Piece) -> Void) {
        guard let base = chunk.baseAddress, chunk.count > 0 else { return }
        var start = 0
        while start < chunk.count {
            let rest = chunk.count - start
            guard let found = memchr(base + start, 0x0A, rest) else {
                append(UnsafeRawBufferPointer(start: base + start, count: rest), emit)
                return
            }
            let end = base.distance(to: UnsafeRawPointer(found))
            if discarding {
                discarding = false
            } else {
                append(UnsafeRawBufferPointer(start: base + start, count: end - start), emit)
                if !discarding {
                    emit(.line(partial))
                }
                discarding = false
            }
            partial.removeAll(keepingCapacity: partial.capacity <= 64 * 1024)
            start = end + 1
        }
    }

    mutating func feed(_ bytes: [UInt8], _ emit: (Piece) -> Void) {
        bytes.withUnsafeBytes { feed($0, emit) }
    }

    /// End of the stream: what is left of an unfinished line.
    mutating func finish(_ emit: (Piece) -> Void) {
        if !partial.isEmpty && !discarding { emit(.line(partial)) }
        partial = []
        discarding = false
    }

    /// Adds bytes of the current line; past `maxLine`, reports the line as over-long and drops the rest.
    private mutating func append(_ bytes: UnsafeRawBufferPointer, _ emit: (Piece) -> Void) {
        guard !discarding else { return }
        let room = maxLine - partial.count
        if bytes.count <= room {
            partial.append(contentsOf: bytes)
            return
        }
        partial.append(contentsOf: bytes.prefix(room))
        emit(.overlong(partial))
        partial = []
        discarding = true
    }
}
