import EventoCore
import Testing

@Suite struct JSONTests {
    @Test func parsesEveryKindOfValueAndWritesItBackCompact() throws {
        let text = #"{"s":"a\"b\\c\n\u00e9\ud83d\ude00","i":-9223372036854775808,"u":9223372036854775807,"d":1.5e3,"t":true,"f":false,"n":null,"a":[1,[],{}],"o":{"k":"v"}}"#
        let v = try JSONParser.parse(text)
        #expect(v["s"] == .string("a\"b\\c\né😀"))
        #expect(v["i"] == .int(Int64.min))
        #expect(v["u"] == .int(Int64.max))
        #expect(v["d"] == .double(1500))
        #expect(v["t"] == .bool(true))
        #expect(v["n"] == .null)
        #expect(v["a"] == .array([.int(1), .array([]), .object(JSONObject())]))
        let again = try JSONParser.parse(v.jsonText)
        #expect(again == v)
        #expect(v.jsonText.hasPrefix(#"{"s":"a\"b\\c\né😀","i":-9223372036854775808"#))
    }

    @Test func integersBeyond64BitsBecomeDoubles() throws {
        #expect(try JSONParser.parse("9223372036854775808") == .double(9223372036854775808))
        #expect(try JSONParser.parse("2.0") == .double(2))
        #expect(try JSONParser.parse("-0") == .int(0))
    }

    @Test(arguments: [
        ("{\"a\":1,}", "expected a string key in object at line 1, column 8"),
        ("{\"a\" 1}", "expected ':' after object key \"a\" at line 1, column 6"),
        ("[1 2]", "expected ',' or ']' in array, found '2' at line 1, column 4"),
        ("{\"a\":1,\"a\":2}", "duplicate key \"a\" in object at line 1, column 8"),
        ("\"abc", "unterminated string at line 1, column 1"),
        ("01", "invalid number: leading zero at line 1, column 1"),
        ("{\n  \"x\": tru\n}", "invalid literal, expected true at line 2, column 8"),
        ("1 2", "unexpected content after the JSON value at line 1, column 3"),
        ("\"\\x\"", "invalid escape '\\x' in string at line 1, column 2"),
        ("\"\u{01}\"", "unescaped control character in string at line 1, column 2"),
        ("", "unexpected end of input, expected a value at line 1, column 1"),
    ])
    func syntaxErrorsSayWhatAndWhere(input: String, message: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(input) }
        do {
            _ = try JSONParser.parse(input)
        } catch {
            #expect(error.description == message)
        }
    }

    @Test func refusesNestingBeyondTheLimit() {
        let deep = String(repeating: "[", count: JSONParser.maxDepth + 1) + String(repeating: "]", count: JSONParser.maxDepth + 1)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(deep) }
        let ok = String(repeating: "[", count: JSONParser.maxDepth) + String(repeating: "]", count: JSONParser.maxDepth)
        #expect(throws: Never.self) { try JSONParser.parse(ok) }
    }

    @Test func writerEscapesControlCharacters() {
        var w = JSONWriter()
        w.string("a\u{01}\t\"")
        #expect(w.string == #""a\u0001\t\"""#)
    }

    @Test func objectEqualityIgnoresMemberOrder() throws {
        #expect(try JSONParser.parse(#"{"a":1,"b":2}"#) == JSONParser.parse(#"{"b":2,"a":1}"#))
        #expect(try JSONParser.parse(#"{"a":1,"b":2}"#) != JSONParser.parse(#"{"b":2,"a":2}"#))
    }

    @Test func fieldReaderNamesThePathOfWrongAndUnknownFields() throws {
        var r = try FieldReader(JSONParser.parse(#"{"entity": 5, "amout": 1}"#), path: "events[1]")
        #expect(throws: EventoError.self) { try r.string("entity") }
        do { _ = try r.string("entity") } catch { #expect(error.message == "events[1].entity: expected string, got integer") }
        do { try r.rejectUnknownFields() } catch {
            #expect(error.message == #"events[1]: unknown field "amout""#)
            #expect(error.field == "events[1].amout")
        }
    }
}
