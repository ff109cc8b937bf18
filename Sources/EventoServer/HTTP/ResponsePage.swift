import EventoCore
import Hummingbird

/// One page of a listing, bounded by a count and by the bytes of the whole response.
///
/// Items are written straight into the response; the one that would take it past `maxBytes` is taken
/// back out and the page ends there (`cut`), except that the first item always goes in, so a page always
/// makes progress. `nextChunk` says how many items to read next, sized from what the items so far
/// weighed, so that the store is not asked for 1,000 events of 4 MB to answer 16 MB of them.
struct ResponsePage {
    /// Largest response, in bytes.
    let maxBytes: Int
    /// Most items.
    let limit: Int
    /// Bytes kept free for the members written after the array (`lastPosition`, flags, closing brackets).
    static let reserve = 512
    /// Items read first, before their sizes are known.
    static let firstChunk = 16

    private(set) var count = 0
    /// Whether an item was left out because of the byte limit.
    private(set) var cut = false
    private var itemBytes = 0

    init(maxBytes: Int, limit: Int) {
        self.maxBytes = maxBytes
        self.limit = limit
    }

    /// Whether the page has room for more items.
    var isOpen: Bool { !cut && count < limit }

    /// How many items to read next (nil: the page is complete), for a response of `written` bytes so far.
    func nextChunk(written: Int) -> Int? {
        guard isOpen else { return nil }
        let remaining = limit - count
        guard count > 0 else { return min(remaining, Self.firstChunk) }
        let average = max(1, itemBytes / count)
        // One more than fits, so that a full page learns it is full (and says so) without another read.
        let fits = max(0, maxBytes - Self.reserve - written) / average + 1
        return min(remaining, max(1, fits))
    }

    /// Appends one array element (with its comma) written by `body`, unless it would take the response
    /// past the limit and is not the first. Returns whether it went in.
    mutating func append(to w: inout JSONWriter, _ body: (inout JSONWriter) -> Void) -> Bool {
        guard isOpen else { return false }
        let mark = w.bytes.count
        if count > 0 { w.bytes.append(UInt8(ascii: ",")) }
        body(&w)
        if count > 0 && w.bytes.count + Self.reserve > maxBytes {
            w.bytes.removeSubrange(mark...)
            cut = true
            return false
        }
        count += 1
        itemBytes += w.bytes.count - mark
        return true
    }
}

extension ResponsePage {
    /// A page of a listing keyed by strings: `{"items": [...], "next": KEY?, "truncatedByBytes": true?}`.
    /// `next` (the key to page after) is the last key written when the byte limit cut the page, or when
    /// `more` says the store has items past these.
    static func keyed<Item>(
        _ items: [Item], more: Bool, maxBytes: Int, key: (Item) -> String, members: (Item, inout ObjectWriter) -> Void
    ) -> Response {
        var w = JSONWriter(capacity: 4096)
        w.raw("{\"items\":[")
        var page = ResponsePage(maxBytes: maxBytes, limit: items.count)
        var last: String?
        for item in items where page.isOpen {
            if page.append(to: &w, { w in w.object { members(item, &$0) } }) { last = key(item) }
        }
        w.raw("]")
        if page.cut || more, let last {
            w.raw(",\"next\":")
            w.string(last)
        }
        if page.cut { w.raw(",\"truncatedByBytes\":true") }
        w.raw("}")
        return JSONResponse.bytes(w)
    }
}
