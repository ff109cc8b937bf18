"""A stock Kafka consumer (PyPI confluent-kafka) reading kf-evento-events, decoding values with
AvroDeserializer and SchemaRegistryClient pointed at Evento. Prints one JSON object per record.

  consume.py BROKERS TOPIC REGISTRY_URL COUNT [TIMEOUT_SECONDS]

Reads every partition from the beginning (assigned, no group: no rebalance wait) until it has seen COUNT
distinct events (by ce_id) and then two quiet seconds (so duplicates are read too), or until the timeout.
"""
import base64
import json
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

brokers, topic, registry, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
timeout = float(sys.argv[5]) if len(sys.argv) > 5 else 60.0

deserialize = AvroDeserializer(SchemaRegistryClient({"url": registry}))
consumer = Consumer({"bootstrap.servers": brokers, "group.id": "evento-tests", "enable.auto.commit": False})
deadline = time.time() + timeout
partitions = []
while not partitions and time.time() < deadline:
    md = consumer.list_topics(topic, timeout=5)
    t = md.topics.get(topic)
    if t is not None and t.error is None and t.partitions:
        partitions = sorted(t.partitions)
    else:
        time.sleep(0.2)
consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
print(json.dumps({"partitions": len(partitions)}), flush=True)
ids = set()
quiet_since = time.time()
while time.time() < deadline:
    if len(ids) >= count and time.time() - quiet_since > 2:
        break
    m = consumer.poll(0.5)
    if m is None:
        continue
    quiet_since = time.time()
    if m.error():
        print(json.dumps({"error": str(m.error())}), flush=True)
        continue
    headers = {k: v.decode() for k, v in (m.headers() or [])}
    record = {"key": m.key().decode(), "partition": m.partition(), "offset": m.offset(), "headers": headers}
    if headers.get("content-type") == "application/avro":
        record["value"] = deserialize(m.value(), SerializationContext(topic, MessageField.VALUE))
    else:
        record["value"] = json.loads(m.value())
    print(json.dumps(record), flush=True)
    ids.add(headers.get("ce_id"))
consumer.close()
