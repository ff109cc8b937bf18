/// Walks Avro binary against its schema, without recursion, before anything else reads it.
///
/// With a recursive schema (a record that holds an optional record of its own type) every byte of input can
/// be one more level of nesting, and the Avro C reader and the conversion to JSON both recurse once per level:
/// 100,000 bytes of `payloadAvro` overflowed the stack. This walk keeps its own stack, and refuses input that
/// nests deeper than JSON may (`maxDepth`), that ends early, that names a union branch that does not exist,
/// or whose counts promise more values than `maxValues` (an array of 2^62 nulls takes no bytes per item).
enum AvroBinaryScan {
    private enum Work {
        /// One value of `type`, at `depth` containers down.
        case value(AvroType, depth: Int)
        /// The rest of an array or map: `remaining` items of the current block, then the next block.
        case items(AvroType, isMap: Bool, remaining: Int64, depth: Int)
    }

    static func check(_ bytes: [UInt8], _ type: AvroType, maxDepth: Int, maxValues: Int) throws(AvroError) {
        var reader = Reader(bytes: bytes)
        var stack: [Work] = [.value(type, depth: 0)]
        var values = 0
        while let work = stack.popLast() {
            switch work {
            case .items(let items, let isMap, var remaining, let depth):
                if remaining == 0 {
                    remaining = try reader.long()
                    if remaining == 0 { continue }  // the end of the array or map
                    if remaining < 0 {
                        remaining = remaining == Int64.min ? Int64.max : -remaining
                        _ = try reader.long()  // the block's size in bytes
                    }
                    guard remaining <= Int64(maxValues - values) else {
                        throw AvroError(message: "Avro binary promises \(remaining) more items than the \(maxValues) values it may hold")
                    }
                }
                stack.append(.items(items, isMap: isMap, remaining: remaining - 1, depth: depth))
                stack.append(.value(items, depth: depth))
                if isMap { try reader.skip(try reader.length()) }  // the key
            case .value(let type, let depth):
                values += 1
                guard values <= maxValues else { throw AvroError(message: "Avro binary holds more than \(maxValues) values") }
                switch type {
                case .null: break
                case .boolean: try reader.skip(1)
                case .int, .long: _ = try reader.long()
                case .float: try reader.skip(4)
                case .double: try reader.skip(8)
                case .bytes, .string: try reader.skip(try reader.length())
                case .logical(_, let base): stack.append(.value(base, depth: depth))
                case .union(let branches):
                    let index = try reader.long()
                    guard index >= 0, index < Int64(branches.count) else {
                        throw AvroError(message: "Avro binary names union branch \(index) of \(branches.count)")
                    }
                    stack.append(.value(branches[Int(index)], depth: depth))
                case .array(let items), .map(let items):
                    guard depth < maxDepth else { throw AvroError(message: "Avro binary nested deeper than \(maxDepth) levels") }
                    let isMap = if case .map = type { true } else { false }
                    stack.append(.items(items, isMap: isMap, remaining: 0, depth: depth + 1))
                case .named(let named):
                    switch named.kind {
                    case .record(let fields):
                        guard depth < maxDepth else { throw AvroError(message: "Avro binary nested deeper than \(maxDepth) levels") }
                        for field in fields.reversed() { stack.append(.value(field.type, depth: depth + 1)) }
                    case .enumeration: _ = try reader.long()
                    case .fixed(let size): try reader.skip(size)
                    }
                }
            }
        }
    }

    private struct Reader {
        let bytes: [UInt8]
        var offset = 0

        /// A zigzag varint.
        mutating func long() throws(AvroError) -> Int64 {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard offset < bytes.count else { throw AvroError(message: "Avro binary ends in the middle of a value") }
                guard shift < 64 else { throw AvroError(message: "Avro binary has a varint longer than 64 bits") }
                let b = bytes[offset]
                offset += 1
                result |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { break }
                shift += 7
            }
            return Int64(bitPattern: (result >> 1) ^ (0 &- (result & 1)))
        }

        /// A length that the rest of the input holds.
        mutating func length() throws(AvroError) -> Int {
            let n = try long()
            guard n >= 0, n <= Int64(bytes.count - offset) else {
                throw AvroError(message: "Avro binary gives a length of \(n) with \(bytes.count - offset) bytes left")
            }
            return Int(n)
        }

        mutating func skip(_ n: Int) throws(AvroError) {
            guard n <= bytes.count - offset else { throw AvroError(message: "Avro binary ends in the middle of a value") }
            offset += n
        }
    }
}
