import EventoAvro
import EventoCore
import Testing

/// Union branches are matched by trying them; a try on a nested value validates all of it. With unions in
/// unions that used to double per level: 24 levels of a linked list took 18 s to validate.
@Suite struct AvroUnionCostTests {
    static let linkedList = #"{"type": "record", "name": "Node", "namespace": "test", "fields": [{"name": "next", "type": ["null", "Node"]}, {"name": "n", "type": "long", "default": 0}]}"#

    static func list(depth: Int, leaf: String = "null") throws -> JSONValue {
        var text = leaf
        for _ in 0..<depth { text = #"{"next":"# + text + "}" }
        return try JSONParser.parse(text)
    }

    @Test func aDeepLinkedListValidatesAndEncodesInLinearTime() throws {
        let type = try parseSchema(Self.linkedList)
        let value = try Self.list(depth: AvroValidator.maxDepth - 1)
        let start = ContinuousClock.now
        let normalized = try AvroValidator.normalize(value, as: type, path: "payload")
        let bytes = try AvroBinaryCodec(type).encode(normalized)
        #expect(try AvroBinaryCodec(type).decode(bytes) == normalized)
        #expect(ContinuousClock.now - start < .seconds(2))
    }

    @Test func anErrorAtTheBottomIsFoundOnceAndNamed() throws {
        let type = try parseSchema(Self.linkedList)
        let value = try Self.list(depth: 60, leaf: #"{"next":null,"n":1.5}"#)
        let start = ContinuousClock.now
        let error = try #require(throws: EventoError.self) { try AvroValidator.normalize(value, as: type, path: "payload") }
        #expect(error.field == "payload" + String(repeating: ".next", count: 60) + ".n")
        #expect(error.message.hasSuffix(".n: expected long, got 1.5"))
        #expect(ContinuousClock.now - start < .seconds(1))
    }

    @Test func valuesNestedPastTheLimitAreRefusedAtOnce() throws {
        let type = try parseSchema(Self.linkedList)
        let start = ContinuousClock.now
        let error = try #require(throws: EventoError.self) {
            try AvroValidator.normalize(Self.list(depth: 500), as: type, path: "payload")
        }
        #expect(error.message.hasSuffix(": nested deeper than 128 levels of records, arrays and maps"))
        #expect(error.field == "payload" + String(repeating: ".next", count: 128))
        #expect(ContinuousClock.now - start < .seconds(1))
    }

    @Test func unionsOfLookAlikeRecordsAreRefusedWhenTheyCostTooMuch() throws {
        // Two branches of the same shape: a value that fails deep in the first is tried in the second, at
        // every level. The budget stops it.
        let type = try parseSchema(#"""
        {"type": "record", "name": "T", "namespace": "test", "fields": [{"name": "x", "type": ["null",
          {"type": "record", "name": "A", "fields": [{"name": "a", "type": "long", "default": 0}, {"name": "x", "type": ["null", "A",
            {"type": "record", "name": "B", "fields": [{"name": "a", "type": "long", "default": 0}, {"name": "x", "type": ["null", "A", "B"]}]}
          ]}]},
          "B"
        ]}]}
        """#)
        let value = try JSONParser.parse(#"{"x":"# + String(repeating: #"{"x":"#, count: 40) + #"{"a":"no"}"# + String(repeating: "}", count: 41))
        let start = ContinuousClock.now
        let error = try #require(throws: EventoError.self) { try AvroValidator.normalize(value, as: type, path: "payload") }
        #expect(error.message.contains("too costly to match against the schema's unions"))
        #expect(ContinuousClock.now - start < .seconds(1))
    }
}
