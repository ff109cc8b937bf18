"""Avro interoperability through fastavro, a library nobody here wrote.

  interop.py decode URL EVENT_ID      fetch GET /events/{id}/avro, fetch the schema from /schemas/ids/{id},
                                      decode with fastavro, print the natural JSON
  interop.py encode URL SCHEMA_ID JSON  encode JSON with fastavro and the schema from /schemas/ids/{id},
                                      print the Confluent wire format as base64
"""
import base64
import datetime
import decimal
import io
import json
import struct
import sys
import urllib.request
import uuid

import fastavro


def get(url):
    with urllib.request.urlopen(url) as r:
        return r.read()


def schema(url, schema_id):
    return fastavro.parse_schema(json.loads(json.loads(get("%s/schemas/ids/%d" % (url, schema_id)))["schema"]))


def natural(v):
    """fastavro's Python values in Evento's natural JSON forms."""
    if isinstance(v, dict):
        return {k: natural(x) for k, x in v.items()}
    if isinstance(v, list):
        return [natural(x) for x in v]
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, datetime.datetime):
        v = v.astimezone(datetime.timezone.utc)
        return v.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (v.microsecond // 1000)
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, bytes):
        return v.decode("latin-1")
    return v


def python_value(v, s):
    """Evento's natural JSON (as parsed) in the Python values fastavro writes, guided by the schema."""
    if isinstance(s, list):
        if v is None:
            return None
        for branch in s:
            if branch != "null":
                return python_value(v, branch)
    if isinstance(s, dict):
        t = s.get("type")
        logical = s.get("logicalType")
        if logical == "decimal":
            return decimal.Decimal(str(v))
        if logical == "date":
            return datetime.date.fromisoformat(v)
        if logical == "timestamp-millis":
            return datetime.datetime.fromisoformat(v.replace("Z", "+00:00"))
        if logical == "uuid":
            return uuid.UUID(v)
        if t == "record":
            return {f["name"]: python_value(v.get(f["name"], f.get("default")), f["type"]) for f in s["fields"]}
        if t == "array":
            return [python_value(x, s["items"]) for x in v]
        if t == "map":
            return {k: python_value(x, s["values"]) for k, x in v.items()}
        if t == "fixed":
            return v.encode("latin-1")
        if t == "bytes":
            return v.encode("latin-1")
        return python_value(v, t) if isinstance(t, (dict, list)) else v
    if s == "bytes":
        return v.encode("latin-1")
    return v


def main():
    mode, url = sys.argv[1], sys.argv[2]
    if mode == "decode":
        wire = get("%s/events/%s/avro" % (url, sys.argv[3]))
        assert wire[0] == 0, "magic byte"
        schema_id = struct.unpack(">I", wire[1:5])[0]
        value = fastavro.schemaless_reader(io.BytesIO(wire[5:]), schema(url, schema_id))
        print(json.dumps({"schemaId": schema_id, "payload": natural(value)}))
    elif mode == "encode":
        schema_id = int(sys.argv[3])
        raw = json.loads(json.loads(get("%s/schemas/ids/%d" % (url, schema_id)))["schema"])
        out = io.BytesIO()
        out.write(b"\x00" + struct.pack(">I", schema_id))
        fastavro.schemaless_writer(out, fastavro.parse_schema(raw), python_value(json.loads(sys.argv[4]), raw))
        print(base64.b64encode(out.getvalue()).decode())


main()
