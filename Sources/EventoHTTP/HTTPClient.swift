import CCurl
import Foundation

/// An HTTP/1.1 client over libcurl's multi interface.
///
/// One dedicated I/O thread drives every transfer (`curl_multi_poll`), so no call blocks Swift's cooperative
/// pool, and the multi handle's connection cache keeps connections alive and reuses them across calls: a
/// function called 10,000 times costs a handful of TCP connections, not 10,000.
public final class HTTPClient: Sendable {
    public struct Configuration: Sendable {
        /// Most connections kept open to one host (`CURLMOPT_MAX_HOST_CONNECTIONS`); 0 = unlimited.
        public var maxConnectionsPerHost: Int = 64
        /// Connections kept in the cache in all (`CURLMOPT_MAXCONNECTS`).
        public var maxCachedConnections: Int = 256
        public var connectTimeout: Duration = .seconds(5)
        public init() {}
    }

    private let loop: CurlLoop

    public init(configuration: Configuration = Configuration()) {
        loop = CurlLoop(configuration: configuration)
    }

    /// Performs one request. Throws `HTTPClientError` for transport failures (a status ≥ 400 is a response).
    public func execute(_ request: HTTPClientRequest) async throws -> HTTPClientResponse {
        try await withCheckedThrowingContinuation { continuation in
            loop.submit(Transfer(request: request, continuation: continuation))
        }
    }

    /// Stops the I/O thread; transfers in flight fail.
    public func shutdown() { loop.stop() }

    deinit { loop.stop() }
}

public struct HTTPClientRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]?
    /// Whole-transfer timeout.
    public var timeout: Duration
    /// Collect response headers (off by default: most callers need only status and body).
    public var collectHeaders: Bool
    /// The largest response body accepted; a longer one aborts the transfer with `.responseTooLarge`
    /// (a declared Content-Length before any of it is read, a chunked body as soon as it passes the cap).
    /// `nil`: no limit.
    public var maxResponseBytes: Int?

    public init(
        method: String = "GET", url: String, headers: [(name: String, value: String)] = [], body: [UInt8]? = nil,
        timeout: Duration = .seconds(30), collectHeaders: Bool = false, maxResponseBytes: Int? = nil
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.collectHeaders = collectHeaders
        self.maxResponseBytes = maxResponseBytes
    }
}

public struct HTTPClientResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public var bodyText: String { String(decoding: body, as: UTF8.self) }

    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
}

/// A transport failure: the request got no HTTP response.
public struct HTTPClientError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable {
        case connect, timeout
        /// The response body passed `HTTPClientRequest.maxResponseBytes`; the transfer was aborted.
        case responseTooLarge
        case other
    }
    public var kind: Kind
    public var code: Int
    public var message: String
    public var url: String
    public var description: String { "\(message) (\(url))" }
}

/// One request in flight. @unchecked Sendable: created by the caller, then owned by the I/O thread alone.
final class Transfer: @unchecked Sendable {
    let request: HTTPClientRequest
    let continuation: CheckedContinuation<HTTPClientResponse, any Error>
    var responseBody: [UInt8] = []
    /// The write callback refused the body for passing `maxResponseBytes`.
    var tooLarge = false
    var responseHeaders: [(name: String, value: String)] = []
    var requestBody: UnsafeMutableRawBufferPointer?
    var headerList: UnsafeMutablePointer<curl_slist>?

    init(request: HTTPClientRequest, continuation: CheckedContinuation<HTTPClientResponse, any Error>) {
        self.request = request
        self.continuation = continuation
    }

    func releaseBuffers() {
        requestBody?.deallocate()
        requestBody = nil
        if let headerList { curl_slist_free_all(headerList) }
        headerList = nil
    }
}

/// The I/O thread and the multi handle.
final class CurlLoop: @unchecked Sendable {
    // @unchecked: `pending` and `stopping` are guarded by `lock`; the multi handle, the free easy handles
    // and the transfers in flight are only touched on the I/O thread.
    private let lock = NSLock()
    private var pending: [Transfer] = []
    private var stopping = false
    private var stopped = false
    private let multi: UnsafeMutableRawPointer
    private var freeHandles: [UnsafeMutableRawPointer] = []
    private let configuration: HTTPClient.Configuration

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    init(configuration: HTTPClient.Configuration) {
        _ = Self.globalInit
        self.configuration = configuration
        multi = curl_multi_init()
        evento_curl_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, configuration.maxConnectionsPerHost)
        evento_curl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, configuration.maxCachedConnections)
        let thread = Thread { [self] in self.run() }
        thread.name = "evento-http-client"
        thread.start()
    }

    func submit(_ transfer: Transfer) {
        lock.lock()
        if stopping {
            lock.unlock()
            transfer.continuation.resume(throwing: HTTPClientError(kind: .other, code: -1, message: "the HTTP client is shut down", url: transfer.request.url))
            return
        }
        pending.append(transfer)
        lock.unlock()
        curl_multi_wakeup(multi)
    }

    func stop() {
        lock.lock()
        let already = stopping
        stopping = true
        lock.unlock()
        if !already { curl_multi_wakeup(multi) }
    }

    private func run() {
        var inFlight = 0
        while true {
            lock.lock()
            let adds = pending
            pending.removeAll(keepingCapacity: true)
            let stop = stopping
            lock.unlock()
            if stop {
                for t in adds { t.continuation.resume(throwing: HTTPClientError(kind: .other, code: -1, message: "the HTTP client is shut down", url: t.request.url)) }
                drainAll()
                break
            }
            for t in adds {
                if start(t) { inFlight += 1 }
            }
            var running: Int32 = 0
            curl_multi_perform(multi, &running)
            var left: Int32 = 0
            while let msg = curl_multi_info_read(multi, &left) {
                guard msg.pointee.msg == CURLMSG_DONE, let easy = msg.pointee.easy_handle else { continue }
                let result = msg.pointee.data.result
                finish(easy, result: result)
                inFlight -= 1
            }
            curl_multi_poll(multi, nil, 0, 1000, nil)
        }
        for h in freeHandles { curl_easy_cleanup(h) }
        curl_multi_cleanup(multi)
    }

    /// Fails every transfer still attached to the multi handle.
    private func drainAll() {
        // Transfers still attached: find them through their easy handles' private pointers.
        var left: Int32 = 0
        while let msg = curl_multi_info_read(multi, &left) {
            if let easy = msg.pointee.easy_handle { finish(easy, result: msg.pointee.data.result) }
        }
        // curl offers no iteration over attached handles in 7.88; remaining ones are tracked by `attached`.
        for easy in attached {
            finish(easy, result: CURLE_ABORTED_BY_CALLBACK)
        }
    }

    private var attached: Set<UnsafeMutableRawPointer> = []

    private func start(_ t: Transfer) -> Bool {
        let easy = freeHandles.popLast() ?? curl_easy_init()!
        curl_easy_reset(easy)
        let r = t.request
        evento_curl_setopt_str(easy, CURLOPT_URL, r.url)
        evento_curl_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        evento_curl_setopt_long(easy, CURLOPT_TCP_NODELAY, 1)
        evento_curl_setopt_long(easy, CURLOPT_TCP_KEEPALIVE, 1)
        evento_curl_setopt_long(easy, CURLOPT_TIMEOUT_MS, Int(r.timeout.milliseconds))
        evento_curl_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, Int(configuration.connectTimeout.milliseconds))
        evento_curl_setopt_long(easy, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_1_1))
        var list: UnsafeMutablePointer<curl_slist>? = nil
        var hasContentType = false
        for h in r.headers {
            if h.name.caseInsensitiveCompare("content-type") == .orderedSame { hasContentType = true }
            list = curl_slist_append(list, "\(h.name): \(h.value)")
        }
        if let body = r.body {
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: max(body.count, 1), alignment: 1)
            body.withUnsafeBytes { buf.copyMemory(from: $0) }
            t.requestBody = buf
            if !hasContentType { list = curl_slist_append(list, "Content-Type: application/json") }
            // Without this, curl sends "Expect: 100-continue" for larger bodies and waits a round trip.
            list = curl_slist_append(list, "Expect:")
            evento_curl_setopt_long(easy, CURLOPT_POST, 1)
            evento_curl_setopt_off(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
            evento_curl_setopt_ptr(easy, CURLOPT_POSTFIELDS, buf.baseAddress)
        }
        if r.method != "GET" && !(r.method == "POST" && r.body != nil) {
            evento_curl_setopt_str(easy, CURLOPT_CUSTOMREQUEST, r.method)
            if r.method == "HEAD" { evento_curl_setopt_long(easy, CURLOPT_NOBODY, 1) }
        }
        if let list {
            t.headerList = list
            evento_curl_setopt_slist(easy, CURLOPT_HTTPHEADER, list)
        }
        let unmanaged = Unmanaged.passRetained(t)  // released in finish()
        evento_curl_setopt_ptr(easy, CURLOPT_PRIVATE, unmanaged.toOpaque())
        evento_curl_setopt_ptr(easy, CURLOPT_WRITEDATA, unmanaged.toOpaque())
        if let max = r.maxResponseBytes {
            // Refuses a declared Content-Length over the cap before reading any of it.
            evento_curl_setopt_off(easy, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(max))
        }
        evento_curl_setopt_write_cb(easy) { ptr, size, count, userdata in
            let transfer = Unmanaged<Transfer>.fromOpaque(userdata!).takeUnretainedValue()
            let n = size * count
            if let max = transfer.request.maxResponseBytes, transfer.responseBody.count + n > max {
                // Anything but n aborts the transfer (CURLE_WRITE_ERROR): a body without end stops here.
                transfer.tooLarge = true
                transfer.responseBody = []
                return 0
            }
            if let ptr, n > 0 {
                ptr.withMemoryRebound(to: UInt8.self, capacity: n) { transfer.responseBody.append(contentsOf: UnsafeBufferPointer(start: $0, count: n)) }
            }
            return n
        }
        if r.collectHeaders {
            evento_curl_setopt_ptr(easy, CURLOPT_HEADERDATA, unmanaged.toOpaque())
            evento_curl_setopt_header_cb(easy) { ptr, size, count, userdata in
                let transfer = Unmanaged<Transfer>.fromOpaque(userdata!).takeUnretainedValue()
                let n = size * count
                if let ptr, n > 0 {
                    let line = ptr.withMemoryRebound(to: UInt8.self, capacity: n) { String(decoding: UnsafeBufferPointer(start: $0, count: n), as: UTF8.self) }
                    if line.hasPrefix("HTTP/") { transfer.responseHeaders.removeAll() }  // a new response (after 100, redirects)
                    if let colon = line.firstIndex(of: ":") {
                        let name = String(line[..<colon])
                        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
                        transfer.responseHeaders.append((name, value))
                    }
                }
                return n
            }
        }
        let rc = curl_multi_add_handle(multi, easy)
        if rc != CURLM_OK {
            unmanaged.release()
            t.releaseBuffers()
            freeHandles.append(easy)
            t.continuation.resume(throwing: HTTPClientError(kind: .other, code: Int(rc.rawValue), message: String(cString: curl_multi_strerror(rc)), url: r.url))
            return false
        }
        attached.insert(easy)
        return true
    }

    private func finish(_ easy: UnsafeMutableRawPointer, result: CURLcode) {
        var raw: UnsafeMutableRawPointer?
        evento_curl_getinfo_ptr(easy, CURLINFO_PRIVATE, &raw)
        curl_multi_remove_handle(multi, easy)
        attached.remove(easy)
        guard let raw else {
            freeHandles.append(easy)
            return
        }
        let transfer = Unmanaged<Transfer>.fromOpaque(raw).takeRetainedValue()
        transfer.releaseBuffers()
        if result == CURLE_OK {
            var status = 0
            evento_curl_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
            freeHandles.append(easy)
            transfer.continuation.resume(
                returning: HTTPClientResponse(status: status, headers: transfer.responseHeaders, body: transfer.responseBody))
        } else if transfer.tooLarge || result == CURLE_FILESIZE_EXCEEDED {
            freeHandles.append(easy)
            transfer.continuation.resume(
                throwing: HTTPClientError(
                    kind: .responseTooLarge, code: Int(result.rawValue),
                    message: "the response exceeds \(transfer.request.maxResponseBytes ?? 0) bytes", url: transfer.request.url))
        } else {
            freeHandles.append(easy)
            let kind: HTTPClientError.Kind =
                switch result {
                case CURLE_OPERATION_TIMEDOUT: .timeout
                case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_GOT_NOTHING: .connect
                default: .other
                }
            transfer.continuation.resume(
                throwing: HTTPClientError(kind: kind, code: Int(result.rawValue), message: String(cString: curl_easy_strerror(result)), url: transfer.request.url))
        }
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (s, atto) = components
        return s * 1000 + atto / 1_000_000_000_000_000
    }
}
