/// JSON text that is known to be well-formed: a payload or state as it is stored.
///
/// Payloads travel through Evento as text (request → store → response, Kafka, functions) and are parsed
/// only where their structure matters (validation, function replies).
public struct RawJSON: Sendable, Hashable, CustomStringConvertible {
    public let text: String

    /// Wraps text the caller guarantees is valid JSON (it came out of `JSONWriter` or the store).
    public init(trusted text: String) { self.text = text }

    /// Serialises a value.
    public init(_ value: JSONValue) { self.text = value.jsonText }

    /// Parses the text; throws if it is not JSON.
    public init(validating text: String) throws(JSONParseError) {
        _ = try JSONParser.parse(text)
        self.text = text
    }

    public static let null = RawJSON(trusted: "null")

    /// The parsed value.
    public func value() throws(JSONParseError) -> JSONValue { try JSONParser.parse(text) }

    public var description: String { text }
}
