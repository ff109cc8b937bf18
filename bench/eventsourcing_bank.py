"""The bench's bank workload in a peer: the PyPI `eventsourcing` library (SQLite, in-process).

    python3 bench/eventsourcing_bank.py [--duration 10] [--accounts 1000] [--json]

Same shape as `evento bench commands`: N accounts opened and funded first, then for the duration 45%
deposits, 45% withdrawals (rejected when short, which records a rejection event) and 10% transfers (a
withdrawal and a deposit), each a load-decide-save of an event-sourced aggregate with SQLite durability.
And the events scenario of `evento bench events`: batches of 100 events appended to 1000 aggregates.
Single process, one thread: the library's application is synchronous.
"""
import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event


class Account(Aggregate):
    @event("Opened")
    def __init__(self, owner):
        self.owner = owner
        self.balance = 0

    @event("Deposited")
    def deposit(self, amount):
        self.balance += amount

    @event("Withdrawn")
    def withdraw(self, amount):
        self.balance -= amount

    @event("WithdrawalRejected")
    def reject(self, amount):
        pass


class Bank(Application):
    def open(self, owner):
        a = Account(owner)
        self.save(a)
        return a.id

    def deposit(self, account_id, amount):
        a = self.repository.get(account_id)
        a.deposit(amount)
        self.save(a)

    def withdraw(self, account_id, amount):
        a = self.repository.get(account_id)
        if a.balance >= amount:
            a.withdraw(amount)
        else:
            a.reject(amount)
        self.save(a)

    def transfer(self, source, target, amount):
        self.withdraw(source, amount)
        self.deposit(target, amount)


class Stream(Aggregate):
    @event("Started")
    def __init__(self):
        pass

    @event("Happened")
    def happen(self, n, note):
        pass


def percentiles(latencies):
    if not latencies:
        return {}
    s = sorted(latencies)
    pick = lambda p: s[min(len(s) - 1, max(0, int(p / 100 * len(s) + 0.999999) - 1))] * 1000
    return {"p50Ms": pick(50), "p90Ms": pick(90), "p99Ms": pick(99), "maxMs": s[-1] * 1000}


def commands(duration, accounts):
    path = tempfile.mkdtemp(prefix="es-bank-") + "/bank.sqlite"
    bank = Bank(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path})
    ids = [bank.open("bench") for _ in range(accounts)]
    for i in ids:
        bank.deposit(i, 100000)
    rng = random.Random(7)
    latencies, done = [], 0
    end = time.perf_counter() + duration
    start = time.perf_counter()
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        roll = rng.random()
        a = rng.choice(ids)
        if roll < 0.1:
            b = rng.choice(ids)
            bank.transfer(a, b if b != a else ids[0], 1)
            done += 2
        elif roll < 0.55:
            bank.deposit(a, rng.randint(1, 100))
            done += 1
        else:
            bank.withdraw(a, rng.randint(1, 100))
            done += 1
        latencies.append(time.perf_counter() - t0)
    seconds = time.perf_counter() - start
    return dict(scenario="commands (eventsourcing, SQLite, in-process)", throughputPerSecond=done / seconds,
                operations=len(latencies), durationSeconds=seconds, **percentiles(latencies))


def events(duration, batch=100, streams=1000):
    path = tempfile.mkdtemp(prefix="es-events-") + "/events.sqlite"
    app = Application(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path})
    aggregates = [Stream() for _ in range(streams)]
    for a in aggregates:
        app.save(a)
    latencies, appended, i = [], 0, 0
    end = time.perf_counter() + duration
    start = time.perf_counter()
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        touched = {}
        for k in range(batch):
            a = aggregates[(i * batch + k) % streams]
            a.happen(k, "a payload of a few dozen bytes, like most events")
            touched[id(a)] = a
        app.save(*touched.values())  # one atomic write of the batch
        appended += batch
        latencies.append(time.perf_counter() - t0)
        i += 1
    seconds = time.perf_counter() - start
    return dict(scenario="events (eventsourcing, SQLite, batches of %d)" % batch, throughputPerSecond=appended / seconds,
                operations=len(latencies), durationSeconds=seconds, **percentiles(latencies))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results = [events(args.duration), commands(args.duration, args.accounts)]
    if args.json:
        print(json.dumps(results))
        return
    for r in results:
        print(r["scenario"])
        print("  throughput  %s/s" % format(int(r["throughputPerSecond"]), ","))
        print("  latency p50 / p90 / p99 / max  %.2f / %.2f / %.2f / %.2f ms" % (r["p50Ms"], r["p90Ms"], r["p99Ms"], r["maxMs"]))


main()
