"""Evento function runtime for Python.

Write only your function's logic; this module gives you both transports of the function protocol:

    from evento_runtime import serve, FunctionError

    def handle(command, aggregate):        # -> list of {"type": ..., "payload": {...}}
        ...
    def apply(state, event):               # fold one event (or give aggregate(state, events, aggregate))
        ...
    def dispatch(event):                   # -> list of {"entity": ..., "type": ..., "payload": {...}}
        ...
    def project(events):                   # a projector: events in position order -> list of view operations
        ...                                #   {"op": "put", "view", "key", "doc"}, {"op": "merge", "view", "key",
                                           #   "patch"} (RFC 7396), {"op": "delete", "view", "key"}
    def query(params, evento_url):         # a query: its query-string parameters (strings) -> any JSON result
        ...                                #   read views with EventoClient(evento_url)

    if __name__ == "__main__":
        serve(handle=handle, apply=apply)

The batch form (`{"kind": "batch", "requests": [...]}` → `{"replies": [...]}`) is handled too, so a
function written with this runtime can be registered with "maxBatch". As a worker it echoes the
request's "callId" as the first member of each reply, as the protocol requires.

Run it as a subprocess worker (the default: one JSON object per line on stdin/stdout, logs on stderr), or
as an HTTP server with ``--http PORT`` (or EVENTO_HTTP_PORT): POST / takes the same JSON, GET /healthz
answers 200. Raise ``FunctionError(message, retryable=False)`` for a failure retrying cannot fix; any other
exception is reported as retryable.

A projector gets ``{"kind": "project", "events": [...]}`` and answers ``{"operations": [...]}``; a query gets
``{"kind": "query", "params": {...}, "eventoUrl": "http://host:port"}`` and answers ``{"result": ...}``. The
query's ``evento_url`` is the request's ``eventoUrl`` (or, when it has none, the EVENTO_URL environment variable
Evento gives its workers). ``EventoClient(evento_url)`` reads views (and aggregates) there over one kept-alive
connection per thread: ``view(name, key)``, ``views(name, keys)``, ``list_view(name, prefix=…)``,
``aggregate(entity)``; ``evento_client(url)`` keeps one client per URL for the life of the process.
"""

import http.client
import json
import os
import signal
import sys
import threading
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["serve", "FunctionError", "Function", "EventoClient", "evento_client"]


class FunctionError(Exception):
    """A failed call. retryable=False tells Evento not to try again (the command goes to the dead letters)."""

    def __init__(self, message, retryable=True):
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class Function:
    """Dispatches protocol requests to the user's callables."""

    def __init__(self, handle=None, aggregate=None, apply=None, dispatch=None, project=None, query=None):
        self.handle = handle
        self.aggregate = aggregate
        self.apply = apply
        self.dispatch = dispatch
        self.project = project
        self.query = query

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
        if kind == "project":
            if self.project is None:
                raise FunctionError("this function does not project events", retryable=False)
            return {"operations": list(self.project(request.get("events", [])) or [])}
        if kind == "query":
            if self.query is None:
                raise FunctionError("this function does not answer queries", retryable=False)
            url = request.get("eventoUrl") or os.environ.get("EVENTO_URL")
            return {"result": self.query(request.get("params") or {}, url)}
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


class EventoClient:
    """Reads Evento over HTTP: what a query needs (views, aggregates), with the standard library only.

    One kept-alive connection per thread (a worker has one thread; the HTTP mode one per request). A 404 reads
    as None; any other failure raises FunctionError (retryable for 5xx and connection errors). Sends
    EVENTO_TOKEN as a bearer token when it is set (a server with tokens gives its workers a read token
    there), else EVENTO_ADMIN_TOKEN."""

    def __init__(self, url=None, timeout=10.0, token=None):
        url = url or os.environ.get("EVENTO_URL") or "http://127.0.0.1:8080"
        parts = urllib.parse.urlsplit(url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.https else 80)
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.token = token if token is not None else os.environ.get("EVENTO_TOKEN") or os.environ.get("EVENTO_ADMIN_TOKEN")
        self._local = threading.local()

    def _connection(self, fresh=False):
        conn = getattr(self._local, "conn", None)
        if conn is None or fresh:
            if conn is not None:
                conn.close()
            cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            conn = cls(self.host, self.port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def request(self, method, path, body=None):
        """The parsed JSON answer, or None for a 404."""
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        for attempt in (1, 2):
            conn = self._connection(fresh=attempt == 2)
            try:
                conn.request(method, self.prefix + path, body=data, headers=headers)
                response = conn.getresponse()
                text = response.read()
                break
            except (http.client.HTTPException, OSError) as e:
                conn.close()
                self._local.conn = None
                if attempt == 2:  # a kept-alive connection the server closed is tried once more, fresh
                    raise FunctionError("Evento at %s:%d: %s %s: %s" % (self.host, self.port, method, path, e))
        if response.status == 404:
            return None
        if response.status >= 400:
            raise FunctionError("Evento answered %s %s with %d: %s" % (method, path, response.status, text[:300].decode(errors="replace")),
                                retryable=response.status >= 500)
        return json.loads(text) if text else None

    @staticmethod
    def _segment(text):
        return urllib.parse.quote(text, safe="")

    def view(self, view, key):
        """The document of `key` in `view`, or None."""
        found = self.request("GET", "/views/%s/%s" % (self._segment(view), self._segment(key)))
        return None if found is None else found.get("doc")

    def views(self, view, keys, chunk=500):
        """The documents of many keys in one request per `chunk`: {key: doc}, without the missing ones."""
        keys = list(dict.fromkeys(keys))
        out = {}
        for i in range(0, len(keys), chunk):
            found = self.request("POST", "/views/%s/_get" % self._segment(view), {"keys": keys[i:i + chunk]}) or {}
            for item in found.get("items", []):
                if isinstance(item, dict) and "key" in item and item.get("doc") is not None:
                    out[item["key"]] = item["doc"]
        return out

    def list_view(self, view, prefix=None, limit=None, after=None):
        """One page of `view` in key order: (items [{"key", "doc"}], the `after` of the next page or None)."""
        query = {k: v for k, v in (("prefix", prefix), ("limit", limit), ("after", after)) if v is not None}
        path = "/views/%s" % self._segment(view) + ("?" + urllib.parse.urlencode(query) if query else "")
        page = self.request("GET", path) or {}
        return page.get("items", []), page.get("next")

    def aggregate(self, entity):
        """{"entity", "version", "state"} of an entity, or None."""
        return self.request("GET", "/aggregates/%s" % self._segment(entity))


_clients = {}
_clients_lock = threading.Lock()


def evento_client(url=None):
    """One EventoClient per URL, kept for the life of the process (its connections stay open)."""
    url = url or os.environ.get("EVENTO_URL") or "http://127.0.0.1:8080"
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            client = _clients[url] = EventoClient(url)
        return client


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


def serve(handle=None, aggregate=None, apply=None, dispatch=None, project=None, query=None, argv=None):
    """Serves the function: stdin/stdout by default, HTTP with --http PORT [--host HOST] or EVENTO_HTTP_PORT.

    Give the callables of the kinds it is registered as: handle and apply (or aggregate) for an aggregate,
    dispatch for a dispatcher, project for a projector, query for a query."""
    function = Function(handle=handle, aggregate=aggregate, apply=apply, dispatch=dispatch, project=project, query=query)
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
