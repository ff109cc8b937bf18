import EventoCore
import Foundation
import Hummingbird
import NIOCore

extension Request {
    /// Reads and parses the JSON body, refusing bodies over `limit` bytes before reading them when the
    /// client announced their length.
    mutating func jsonBody(limit: Int) async throws -> JSONValue {
        if let length = headers[.contentLength].flatMap(Int.init), length > limit {
            throw EventoError(.payloadTooLarge, "the request body is \(length) bytes; the limit is \(limit) bytes")
        }
        let buffer: ByteBuffer
        do {
            buffer = try await body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw EventoError(.payloadTooLarge, "the request body is larger than the limit of \(limit) bytes")
        }
        if buffer.readableBytes == 0 { throw EventoError(.malformedJSON, "the request body is empty; expected JSON") }
        do {
            return try buffer.readableBytesView.withContiguousStorageIfAvailable { try JSONParser.parse(bytes: $0) }
                ?? JSONParser.parse(Array(buffer.readableBytesView))
        } catch let e as JSONParseError {
            if e.reason == .numberOutOfRange {
                // JSON, but with a number nothing here can hold: a 422 that names the field, like any value
                // the field cannot take.
                throw EventoError(.validation, e.path.isEmpty ? e.message : "\(e.path): \(e.message)", field: e.path.isEmpty ? nil : e.path)
            }
            throw EventoError(.malformedJSON, "the request body is not valid JSON: \(e)")
        }
    }

    /// A boolean query parameter: `true` or `false`, or `defaultValue` when absent. Anything else is a 400
    /// naming the parameter (`wait=yes` must not quietly mean false).
    func queryBool(_ name: String, default defaultValue: Bool) throws -> Bool {
        guard let text = uri.queryParameters.get(name) else { return defaultValue }
        switch text {
        case "true": return true
        case "false": return false
        default:
            throw EventoError(.invalidRequest, "query parameter \(name): expected true or false, got \"\(text)\"", field: name)
        }
    }

    /// A query parameter as an integer within `range`, or `defaultValue` when absent.
    func queryInt(_ name: String, default defaultValue: Int64, range: ClosedRange<Int64>) throws -> Int64 {
        guard let text = uri.queryParameters.get(name) else { return defaultValue }
        guard let v = Int64(text), range.contains(v) else {
            throw EventoError(
                .invalidRequest,
                "query parameter \(name): expected an integer from \(range.lowerBound) to \(range.upperBound), got \"\(text)\"",
                field: name)
        }
        return v
    }
}

extension Parameters {
    /// A path parameter, percent-decoded.
    func decoded(_ name: String) throws -> String {
        guard let raw = get(name) else { throw EventoError(.invalidRequest, "missing path parameter \(name)") }
        return raw.removingPercentEncoding ?? raw
    }
}

/// JSON responses.
enum JSONResponse {
    static func make(_ status: HTTPResponse.Status = .ok, headers: HTTPFields = [:], _ body: (inout JSONWriter) -> Void) -> Response {
        var w = JSONWriter(capacity: 512)
        body(&w)
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: w.bytes)))
    }

    static func object(_ status: HTTPResponse.Status = .ok, headers: HTTPFields = [:], _ body: (inout ObjectWriter) -> Void) -> Response {
        make(status, headers: headers) { $0.object(body) }
    }

    /// A response of JSON already written.
    static func bytes(_ w: JSONWriter, _ status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: w.bytes)))
    }
}
