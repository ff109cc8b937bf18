#!/usr/bin/env python3
"""A small OTLP/HTTP trace receiver for the tests: decodes each export with opentelemetry-proto (the
reference definitions, not Evento's encoder) and appends every span as one JSON line to a file.

    receiver.py SPANS_FILE PORT_FILE

It listens on a free loopback port and writes that port to PORT_FILE once it is ready."""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest, ExportTraceServiceResponse)

spans_file, port_file = sys.argv[1], sys.argv[2]


def value(v):
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path != "/v1/traces" or self.headers.get("Content-Type") != "application/x-protobuf":
            self.send_response(415 if self.path == "/v1/traces" else 404)
            self.end_headers()
            return
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)  # raises on a malformed message: the test sees no spans and a 500 in the log
        lines = []
        for rs in request.resource_spans:
            resource = {a.key: value(a.value) for a in rs.resource.attributes}
            for ss in rs.scope_spans:
                for s in ss.spans:
                    lines.append(json.dumps({
                        "traceId": s.trace_id.hex(), "spanId": s.span_id.hex(),
                        "parentSpanId": s.parent_span_id.hex(), "name": s.name, "kind": s.kind,
                        "start": s.start_time_unix_nano, "end": s.end_time_unix_nano,
                        "attributes": {a.key: value(a.value) for a in s.attributes},
                        "status": {"code": s.status.code, "message": s.status.message},
                        "scope": ss.scope.name, "resource": resource,
                        "authorization": self.headers.get("Authorization"),
                    }))
        with open(spans_file, "a") as f:
            f.write("".join(line + "\n" for line in lines))
        reply = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, fmt, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
