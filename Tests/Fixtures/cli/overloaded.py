"""A stand-in for an overloaded Evento: the first REFUSALS requests get 429 problem+json with Retry-After, then 202."""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

refusals = int(sys.argv[1])
retry_after = sys.argv[2] if len(sys.argv) > 2 else "1"
seen = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        global seen
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        seen += 1
        if seen <= refusals:
            body = json.dumps({"type": "/problems/overloaded", "title": "Overloaded", "status": 429,
                               "detail": "the command backlog is full"}).encode()
            self.send_response(429)
            self.send_header("Content-Type", "application/problem+json")
            self.send_header("Retry-After", retry_after)
        else:
            body = json.dumps({"id": "c-%d" % seen, "status": "pending"}).encode()
            self.send_response(202)
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print("overloaded stand-in listening on http://127.0.0.1:%d" % server.server_address[1], file=sys.stderr, flush=True)
server.serve_forever()
