import EventoAvro
import EventoCore
import Testing

/// What a schema file says beyond Avro: internal commands and unique state fields.
@Suite struct AggregateSchemaTests {
    static let user: JSONValue = [
        ["type": "record", "name": "User", "namespace": "user", "evento": "state",
         "fields": [
            ["name": "username", "type": "string", "unique": "casefold"],
            ["name": "email", "type": ["null", "string"], "default": .null, "unique": true],
            ["name": "number", "type": "long", "unique": true],
            ["name": "name", "type": "string", "unique": false],
         ]],
        ["type": "record", "name": "CreateUser", "namespace": "user", "evento": "command", "fields": [["name": "username", "type": "string"]]],
        ["type": "record", "name": "ActivateUser", "namespace": "user", "evento": "command", "internal": true, "fields": []],
        ["type": "record", "name": "UserCreated", "namespace": "user", "evento": "event", "fields": []],
        ["type": "record", "name": "friends", "namespace": "user", "evento": "view", "fields": [["name": "friends", "type": ["type": "map", "values": "boolean"]]]],
    ]

    @Test func internalCommandsAndUniqueFieldsAreRead() throws {
        let schema = try AggregateSchema(aggregate: "user", definition: Self.user)
        #expect(schema.internalCommands == ["ActivateUser"])
        #expect(schema.views.keys.sorted() == ["friends"])
        #expect(schema.uniqueFields == [
            UniqueField(name: "username", casefold: true), UniqueField(name: "email", casefold: false), UniqueField(name: "number", casefold: false),
        ])
        let username = schema.uniqueFields[0]
        #expect(username.key(in: ["username": "Alice"]) == "alice")
        #expect(schema.uniqueFields[1].key(in: ["email": .null]) == nil, "null reserves nothing")
        #expect(schema.uniqueFields[2].key(in: ["number": 7]) == "7")
        // A value holding U+0000 (which PostgreSQL's text refuses) is reserved under its JSON text: no NUL,
        // distinct from its neighbours, folded like any other.
        let nul = try #require(username.key(in: ["username": "A\u{0}B"]))
        #expect(!nul.utf8.contains(0) && nul == #""a\u0000b""#)
        #expect(nul != username.key(in: ["username": "a\u{FFFD}b"]) && nul != username.key(in: ["username": "ab"]))
        #expect(username.key(forText: "a\u{0}b") == nul)
    }

    @Test(arguments: [
        (["type": "record", "name": "S", "namespace": "user", "evento": "state", "fields": [["name": "x", "type": "string", "unique": "yes"]]], "unique"),
        (["type": "record", "name": "S", "namespace": "user", "evento": "state", "fields": [["name": "x", "type": "double", "unique": true]]], "unique"),
        (["type": "record", "name": "S", "namespace": "user", "evento": "state", "fields": [["name": "x", "type": "long", "unique": "casefold"]]], "unique"),
        (["type": "record", "name": "E", "namespace": "user", "evento": "event", "internal": true, "fields": []], "internal"),
        (["type": "record", "name": "C", "namespace": "user", "evento": "command", "internal": "true", "fields": []], "internal"),
    ] as [(JSONValue, String)])
    func misplacedOrMalformedMarksAreRefusedNamingThem(_ record: JSONValue, _ field: String) {
        #expect { try AggregateSchema(aggregate: "user", definition: [record]) } throws: { error in
            guard let e = error as? EventoError else { return false }
            return e.field?.hasSuffix(field) == true && e.message.contains(field)
        }
    }
}
