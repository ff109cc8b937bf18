/// Schema resolution (Avro specification, "Schema Resolution"): can a reader schema read data written with
/// a writer schema? Each problem names the field at fault.
///
/// Decided here rather than by Avro C's resolver because that one (1.11) does not apply reader defaults:
/// it refuses a reader field missing from the writer even when the field has a default, which the
/// specification (and every Kafka client) allows.
public enum AvroCompatibility {
    /// Problems preventing `reader` from reading data written with `writer`; empty when it can.
    public static func problems(reader: AvroType, writer: AvroType) -> [String] {
        var out: [String] = []
        var visiting: Set<String> = []
        check(reader: reader, writer: writer, path: reader.description, &out, &visiting)
        return out
    }

    private static func check(reader: AvroType, writer: AvroType, path: String, _ out: inout [String], _ visiting: inout Set<String>) {
        let r = reader.underlying
        let w = writer.underlying
        switch (r, w) {
        case (.union(let rb), .union(let wb)):
            for branch in wb where !rb.contains(where: { readable(reader: $0, writer: branch) }) {
                out.append("\(path): the writer's union branch \(branch) has no matching branch in \(reader)")
            }
        case (_, .union(let wb)):
            for branch in wb where !readable(reader: r, writer: branch) {
                out.append("\(path): the writer's union branch \(branch) cannot be read as \(reader)")
            }
        case (.union(let rb), _):
            if !rb.contains(where: { readable(reader: $0, writer: w) }) {
                out.append("\(path): no branch of \(reader) can read \(writer)")
            }
        case (.named(let rn), .named(let wn)):
            guard rn.fullName == wn.fullName || rn.aliases.contains(wn.fullName) || rn.name == wn.name else {
                out.append("\(path): \(wn.fullName) cannot be read as \(rn.fullName) (names differ)")
                return
            }
            switch (rn.kind, wn.kind) {
            case (.record(let rf), .record(let wf)):
                let key = rn.fullName + "<-" + wn.fullName
                if visiting.contains(key) { return }
                visiting.insert(key)
                defer { visiting.remove(key) }
                for f in rf {
                    let fpath = "\(path).\(f.name)"
                    if let wfield = wf.first(where: { $0.name == f.name || f.aliases.contains($0.name) }) {
                        check(reader: f.type, writer: wfield.type, path: fpath, &out, &visiting)
                    } else if f.defaultValue == nil {
                        out.append("\(fpath): field \(f.name) was added without a default, so data written without it cannot be read")
                    }
                }
            case (.enumeration(let rs, let rdefault), .enumeration(let ws, _)):
                let missing = ws.filter { !rs.contains($0) }
                if !missing.isEmpty && rdefault == nil {
                    out.append("\(path): symbols \(missing.joined(separator: ", ")) of \(wn.fullName) are missing and the enum has no default")
                }
            case (.fixed(let rsize), .fixed(let wsize)):
                if rsize != wsize { out.append("\(path): fixed size \(wsize) cannot be read as size \(rsize)") }
            default:
                out.append("\(path): \(writer) cannot be read as \(reader)")
            }
        case (.array(let ri), .array(let wi)):
            check(reader: ri, writer: wi, path: path + "[]", &out, &visiting)
        case (.map(let rv), .map(let wv)):
            check(reader: rv, writer: wv, path: path + "{}", &out, &visiting)
        default:
            if !primitivePromotes(writer: w, reader: r) {
                out.append("\(path): \(writer) cannot be read as \(reader)")
            }
        }
    }

    static func readable(reader: AvroType, writer: AvroType) -> Bool {
        var out: [String] = []
        var visiting: Set<String> = []
        check(reader: reader, writer: writer, path: "", &out, &visiting)
        return out.isEmpty
    }

    static func primitivePromotes(writer: AvroType, reader: AvroType) -> Bool {
        switch (writer, reader) {
        case (.null, .null), (.boolean, .boolean), (.int, .int), (.long, .long), (.float, .float), (.double, .double),
            (.bytes, .bytes), (.string, .string):
            true
        case (.int, .long), (.int, .float), (.int, .double), (.long, .float), (.long, .double), (.float, .double): true
        case (.string, .bytes), (.bytes, .string): true
        default: false
        }
    }
}

/// Compatibility levels of the Confluent Schema Registry.
public enum CompatibilityLevel: String, Sendable, CaseIterable {
    case none = "NONE"
    case backward = "BACKWARD"
    case backwardTransitive = "BACKWARD_TRANSITIVE"
    case forward = "FORWARD"
    case forwardTransitive = "FORWARD_TRANSITIVE"
    case full = "FULL"
    case fullTransitive = "FULL_TRANSITIVE"

    /// Problems with registering `new` after `previous` (oldest first) under this level.
    public func problems(new: AvroType, previous: [AvroType]) -> [String] {
        guard let latest = previous.last else { return [] }
        let against: [AvroType]
        switch self {
        case .none: return []
        case .backward, .forward, .full: against = [latest]
        case .backwardTransitive, .forwardTransitive, .fullTransitive: against = previous
        }
        var out: [String] = []
        for old in against {
            if [.backward, .backwardTransitive, .full, .fullTransitive].contains(self) {
                out += AvroCompatibility.problems(reader: new, writer: old).map { "new schema cannot read old data: \($0)" }
            }
            if [.forward, .forwardTransitive, .full, .fullTransitive].contains(self) {
                out += AvroCompatibility.problems(reader: old, writer: new).map { "old schema cannot read new data: \($0)" }
            }
        }
        return out
    }
}
