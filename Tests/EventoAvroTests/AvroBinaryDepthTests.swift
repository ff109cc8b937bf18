import EventoAvro
import EventoCore
import Testing

/// Avro binary of a recursive schema nests as deep as its bytes say: 100,000 bytes are 100,000 levels, and
/// the Avro C reader (and the conversion to JSON) recurse once per level.
@Suite struct AvroBinaryDepthTests {
    static let linkedList = #"{"type": "record", "name": "Node", "namespace": "test", "fields": [{"name": "next", "type": ["null", "Node"]}]}"#

    /// `depth` nodes: union branch 1 (zigzag 0x02) per node, then null (0x00).
    static func list(depth: Int) -> [UInt8] { [UInt8](repeating: 0x02, count: depth) + [0x00] }

    @Test func aHundredThousandLevelsAreRefusedWithoutOverflowingTheStack() throws {
        let codec = try AvroBinaryCodec(parseSchema(Self.linkedList))
        let error = try #require(throws: AvroError.self) { try codec.decode(Self.list(depth: 100_000)) }
        #expect(error.message == "Avro binary nested deeper than \(AvroValidator.maxDepth) levels")
    }

    @Test func nestingWithinTheJSONLimitDecodes() throws {
        let codec = try AvroBinaryCodec(parseSchema(Self.linkedList))
        var value = try codec.decode(Self.list(depth: 100))
        var depth = 0
        while case .object(let o) = value, let next = o["next"] {
            depth += 1
            value = next
        }
        #expect(depth == 101)
        #expect(value == .null)
    }

    @Test func countsThatPromiseMoreThanTheBytesHoldAreRefused() throws {
        // An array of 2^62 nulls: no byte per item, so only a count bounds the work.
        let codec = try AvroBinaryCodec(parseSchema(#"{"type": "array", "items": "null"}"#))
        #expect(throws: AvroError.self) { try codec.decode([0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0x00]) }
        #expect(try codec.decode([0x06, 0x00]) == [nil, nil, nil])
        // Truncated input is an error, not a read past the end.
        let strings = try AvroBinaryCodec(parseSchema(#"{"type": "array", "items": "string"}"#))
        #expect(throws: AvroError.self) { try strings.decode([0x02, 0x0A, 0x61]) }
    }
}
