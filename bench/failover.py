"""Failover under load: commands round-robin through the instances of a cluster, SIGKILL one, and report
how long its partitions' commands waited and the latency of everything during the failover.

  failover.py PID_TO_KILL URL [URL ...]   (the first URL must not be the victim's)

Prints one JSON object: kill → first command of an orphaned partition done, kill → every orphaned
partition served again, p50/p99/max latency of the commands sent in the 10 s after the kill, errors.
"""
import json, os, signal, sys, threading, time, urllib.request, urllib.error

victim_pid = int(sys.argv[1])
urls = sys.argv[2:]
WARMUP, AFTER, CLIENTS, ENTITIES = 4.0, 12.0, 16, 400


def fnv(s, n):
    h = 0xcbf29ce484222325
    for b in s.encode():
        h ^= b
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h % n


def call(url, body, timeout=60):
    req = urllib.request.Request(url + "/commands?wait=true&timeoutMs=30000", data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, json.loads(r.read())


cluster = json.load(urllib.request.urlopen(urls[0] + "/cluster"))
partitions = cluster["partitions"]
victim_url = None
owners = {}
for inst in cluster["instances"]:
    for p in inst["partitions"]:
        owners[p] = inst["address"]
# The victim's partitions: those of the instance whose address is not among the first URL's (by elimination: the caller
# passes the victim's URL last).
victim_url = urls[-1]
victim_parts = {p for p, a in owners.items() if a.rsplit(":", 1)[-1] == victim_url.rsplit(":", 1)[-1]}

for i in range(ENTITIES):  # open every account first
    call(urls[i % len(urls)], {"entity": f"checking:f{i}", "type": "OpenAccount", "payload": {"owner": "x"}})

results = []  # (sent, done, latency, entity partition, ok)
lock = threading.Lock()
stop = time.time() + WARMUP + AFTER
kill_at = [None]


def client(n):
    k = 0
    while time.time() < stop:
        i = (n * 7919 + k) % ENTITIES
        k += 1
        alive = urls[:-1] if kill_at[0] else urls
        url = alive[k % len(alive)]
        entity = f"checking:f{i}"
        t0 = time.time()
        try:
            status, body = call(url, {"entity": entity, "type": "DepositCash", "payload": {"amount": 1}})
            ok = status == 200 and body.get("command", {}).get("status") == "succeeded"
        except Exception:
            ok = False
        t1 = time.time()
        with lock:
            results.append((t0, t1, t1 - t0, fnv(entity, partitions), ok))


threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
for t in threads:
    t.start()
time.sleep(WARMUP)
kill_at[0] = time.time()
os.kill(victim_pid, signal.SIGKILL)
for t in threads:
    t.join()
T = kill_at[0]
# Sent after the kill to a partition the victim held, and done (a request in flight at the kill may have been
# answered from the victim's last commit: not counted).
orphan_done = [r[1] - T for r in results if r[3] in victim_parts and r[4] and r[0] >= T]
first = min(orphan_done) if orphan_done else None
# Served again: the first orphaned command sent after the kill that succeeded, per partition; the slowest partition.
per_part = {}
for r in results:
    if r[3] in victim_parts and r[4] and r[0] >= T:
        per_part[r[3]] = min(per_part.get(r[3], 1e9), r[1] - T)
window = sorted(r[2] * 1000 for r in results if T <= r[0] <= T + 10 and r[4])
before = sorted(r[2] * 1000 for r in results if r[0] < T and r[4])


def pct(xs, q):
    return round(xs[min(len(xs) - 1, int(q * len(xs)))], 1) if xs else None


print(json.dumps({
    "victimPartitions": len(victim_parts), "partitions": partitions,
    "killToFirstOrphanedCommandDoneSeconds": round(first, 2) if first is not None else None,
    "killToEveryOrphanedPartitionServedSeconds": round(max(per_part.values()), 2) if per_part else None,
    "orphanedPartitionsServedAgain": len(per_part),
    "duringFailover": {"commands": len(window), "p50Ms": pct(window, 0.5), "p99Ms": pct(window, 0.99), "maxMs": round(window[-1], 1) if window else None},
    "beforeKill": {"commands": len(before), "p50Ms": pct(before, 0.5), "p99Ms": pct(before, 0.99)},
    "errors": sum(1 for r in results if not r[4]),
    "errorsNote": "requests whose connection to the killed instance broke (not acknowledged)",
}))
