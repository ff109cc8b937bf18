"""Test HTTP function whose command payload picks the reply: {"reply": "chunked"} streams a chunked body
without end, {"reply": "length", "bytes": N} sends a Content-Length body of N bytes, anything else a
normal reply. Prints "listening on http://HOST:PORT" to stderr."""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        payload = request.get("command", {}).get("payload", {})
        mode = payload.get("reply")
        try:
            if mode == "chunked":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunk = b"%x\r\n%s\r\n" % (1 << 20, b" " * (1 << 20))
                while True:
                    self.wfile.write(chunk)
            elif mode == "length":
                n = payload["bytes"]
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(n))
                self.end_headers()
                block = b" " * (1 << 20)
                while n > 0:
                    self.wfile.write(block[: min(n, len(block))])
                    n -= min(n, len(block))
            else:
                body = json.dumps({"events": [{"type": "Done", "payload": {}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, fmt, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0), Handler)
server.daemon_threads = True
print("listening on http://127.0.0.1:%d/" % server.server_address[1], file=sys.stderr, flush=True)
server.serve_forever()
