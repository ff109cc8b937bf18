"""Evento function runtime for Python.

Write only your function's logic; this module gives you both transports of the function protocol:

    from evento_runtime import serve, FunctionError

    def handle(command, aggregate):        # -> list of {"type": ..., "payload": {...}}
        ...
    def apply(state, event):               # fold one event (or give aggregate(state, events, aggregate))
        ...
    def dispatch(event):                   # -> list of {"entity": ..., "type": ..., "payload": {...}}
        ...

    if __name__ == "__main__":
        serve(handle=handle, apply=apply)

The batch form (`{"kind": "batch", "requests": [...]}` → `{"replies": [...]}`) is handled too, so a
function written with this runtime can be registered with "maxBatch". As a worker it echoes the
request's "callId" as the first member of each reply, as the protocol requires.

Run it as a subprocess worker (the default: one JSON object per line on stdin/stdout, logs on stderr), or
as an HTTP server with ``--http PORT`` (or EVENTO_HTTP_PORT): POST / takes the same JSON, GET /healthz
answers 200. Raise ``FunctionError(message, retryable=False)`` for a failure retrying cannot fix; any other
exception is reported as retryable.
"""

import json
import os
import signal
import sys
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["serve", "FunctionError", "Function"]


class FunctionError(Exception):
    """A failed call. retryable=False tells Evento not to try again (the command goes to the dead letters)."""

    def __init__(self, message, retryable=True):
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class Function:
    """Dispatches protocol requests to the user's callables."""

    def __init__(self, handle=None, aggregate=None, apply=None, dispatch=None):
        self.handle = handle
        self.aggregate = aggregate
        self.apply = apply
        self.dispatch = dispatch

    def call(self, request):
        kind = request.get("kind")
        if kind == "batch":
            # The batch form: one reply per request, in order; a failure stays with its request.
            return {"replies": [self.reply_value(r) for r in request.get("requests", [])]}
        if kind == "handle":
            if self.handle is None:
                raise FunctionError("this function does not handle commands", retryable=False)
            events = list(self.handle(request["command"], request["aggregate"]) or [])
            reply = {"events": events}
            if request.get("fold") and (self.aggregate is not None or self.apply is not None):
                # Asked to fold too (this function is also the aggregate's aggregator): the state after the
                # events, saving Evento a second call.
                reply["state"] = self.fold(request["aggregate"], request["command"], events)
            return reply
        if kind == "aggregate":
            agg = request["aggregate"]
            events = request["events"]
            if self.aggregate is not None:
                return {"state": self.aggregate(agg.get("state"), events, agg)}
            if self.apply is not None:
                state = agg.get("state")
                for event in events:
                    state = self.apply(state, event)
                return {"state": state}
            raise FunctionError("this function does not aggregate", retryable=False)
        if kind == "dispatch":
            if self.dispatch is None:
                raise FunctionError("this function does not dispatch events", retryable=False)
            return {"commands": list(self.dispatch(request["event"]) or [])}
        raise FunctionError("unknown request kind %r" % (kind,), retryable=False)

    def fold(self, agg, command, events):
        """The aggregate's state after a handler's new events (given as type and payload)."""
        version = agg.get("version", 0)
        stored = [
            {"type": e["type"], "payload": e["payload"], "entity": agg.get("entity"), "sequence": version + i + 1,
             "causationId": command.get("id"), "causationKind": "command", "correlationId": command.get("correlationId")}
            for i, e in enumerate(events)
        ]
        if self.aggregate is not None:
            return self.aggregate(agg.get("state"), stored, agg)
        state = agg.get("state")
        for event in stored:
            state = self.apply(state, event)
        return state

    def reply_value(self, request):
        """One parsed request to one reply object; failures become {"error": …}."""
        try:
            return self.call(request)
        except FunctionError as e:
            return {"error": {"message": e.message, "retryable": e.retryable}}
        except Exception as e:  # a bug in the function: report it, keep serving
            traceback.print_exc(file=sys.stderr)
            return {"error": {"message": "%s: %s" % (type(e).__name__, e), "retryable": True}}

    def reply(self, line):
        """One request (bytes or str of JSON) to one reply (str of JSON).

        A worker's request carries a "callId" that the reply must echo: it goes first, so that Evento can
        check it by looking at the start of the line."""
        try:
            request = json.loads(line)
        except ValueError as e:
            return json.dumps({"error": {"message": "request is not JSON: %s" % e, "retryable": False}})
        value = self.reply_value(request)
        if isinstance(request, dict) and "callId" in request:
            value = {"callId": request["callId"], **value}
        return json.dumps(value, separators=(",", ":"))


def _stdio(function):
    stdin = sys.stdin.buffer
    stdout = sys.stdout
    # Anything the function prints goes to stderr (the log), never into the protocol stream.
    sys.stdout = sys.stderr
    for line in stdin:
        if not line.strip():
            continue
        stdout.write(function.reply(line))
        stdout.write("\n")
        stdout.flush()


def _http(function, port, host):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: Evento reuses connections

        def _send(self, status, body):
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path in ("/healthz", "/health"):
                self._send(200, '{"status":"ok"}')
            else:
                self._send(404, '{"error":{"message":"not found","retryable":false}}')

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            self._send(200, function.reply(body))

        def log_message(self, fmt, *args):
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    # As a container's PID 1 nothing else ends the process on `stop`: leave at once on SIGTERM.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    print("function listening on http://%s:%d" % (host, server.server_address[1]), file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


def serve(handle=None, aggregate=None, apply=None, dispatch=None, argv=None):
    """Serves the function: stdin/stdout by default, HTTP with --http PORT [--host HOST] or EVENTO_HTTP_PORT."""
    function = Function(handle=handle, aggregate=aggregate, apply=apply, dispatch=dispatch)
    args = list(sys.argv[1:] if argv is None else argv)
    port = os.environ.get("EVENTO_HTTP_PORT")
    host = os.environ.get("EVENTO_HTTP_HOST", "127.0.0.1")
    if "--http" in args:
        port = args[args.index("--http") + 1]
    if "--host" in args:
        host = args[args.index("--host") + 1]
    if port is not None:
        _http(function, int(port), host)
    else:
        _stdio(function)
