/// The version a writer expects an entity's stream to be at before its event is appended.
public enum ExpectedVersion: Sendable, Hashable, CustomStringConvertible {
    /// Append whatever the version.
    case any
    /// The stream must not exist yet (version 0).
    case noStream
    /// The stream must exist (version ≥ 1).
    case exists
    /// The stream must be at exactly this version (0 is the same as `noStream`).
    case exact(Int64)

    public func matches(_ version: Int64) -> Bool {
        switch self {
        case .any: true
        case .noStream: version == 0
        case .exists: version > 0
        case .exact(let v): version == v
        }
    }

    public var description: String {
        switch self {
        case .any: "any"
        case .noStream: "noStream"
        case .exists: "exists"
        case .exact(let v): String(v)
        }
    }

    /// JSON form: an integer, or one of "any", "noStream", "exists".
    public var json: JSONValue {
        switch self {
        case .exact(let v): .int(v)
        default: .string(description)
        }
    }
}
