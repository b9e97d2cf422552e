#!/usr/bin/env python3
"""What a server charges per document for each way of marking documents synced, beside an
insert and a read: the evidence behind the copy + marks floor in docs/benchmarks.md.

Usage:  python bench/update_costs.py [N]          (N documents, default 10000)
        python bench/update_costs.py N --url URL   (a server of yours; database dropped after)

Run it with a python that has pymongo: the bench venv (`bench/setup.sh | tail -n1`). Without
--url it starts a fresh SecantusDB (`scripts/setup-test-deps.sh | tail -n1` gives its
command; TEMPLESYNC_SECANTUSD overrides) and stops it at the end. Each form works on its own
fresh collection of the same N booking-like documents, in batches of 1000, one after the
other, and prints microseconds per document. The figures vary with the machine's load;
compare the rows of one run.
"""

import argparse
import datetime
import os
import socket
import subprocess
import sys
import time

from bson import ObjectId
from pymongo import MongoClient

BATCH = 1000


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def secantusd():
    given = os.environ.get("TEMPLESYNC_SECANTUSD")
    if given:
        return given
    here = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run(
        ["bash", os.path.join(here, "..", "scripts", "setup-test-deps.sh")],
        check=True, capture_output=True, text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def start_server():
    port = free_port()
    proc = subprocess.Popen(
        [secantusd(), "--host", "127.0.0.1", "--port", str(port), "--storage-path", ":memory:"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    client = MongoClient(f"mongodb://127.0.0.1:{port}/?directConnection=true")
    deadline = time.time() + 30
    while True:
        try:
            client.admin.command("ping")
            return proc, client
        except Exception:
            if time.time() > deadline:
                proc.kill()
                sys.exit("update_costs.py: the test server did not start")
            time.sleep(0.2)


def bookings(n):
    t0 = datetime.datetime(2026, 1, 1)
    docs = []
    for i in range(n):
        t = t0 + datetime.timedelta(seconds=i)
        docs.append({
            "_id": ObjectId(), "devoteeName": f"Devotee {i}", "phone": f"+91 98{i:08d}",
            "ritual": "Archana", "date": t, "people": 3, "amount": 300, "status": "confirmed",
            "gothra": "Atri", "nakshatra": "Rohini", "notes": "Please call before the ritual",
            "createdAt": t, "updatedAt": t, "syncedAt": None, "origin": "local",
            "syncStatus": "pending",
        })
    return docs


def batches(docs):
    for i in range(0, len(docs), BATCH):
        yield docs[i:i + BATCH]


def insert(coll, docs):
    for b in batches(docs):
        coll.insert_many(b, ordered=False)


def update_statements(db, name, docs, statement):
    for b in batches(docs):
        db.command({"update": name, "updates": [statement(d) for d in b], "ordered": False})


def mark(d):
    return {"syncedAt": d["updatedAt"], "syncStatus": "synced"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", nargs="?", type=int, default=10000)
    ap.add_argument("--url", help="measure on this server instead of a fresh SecantusDB")
    args = ap.parse_args()
    proc = None
    if args.url:
        client = MongoClient(args.url)
    else:
        proc, client = start_server()
    db = client[f"update_costs_{os.getpid()}"]
    docs = bookings(args.n)
    rows = []

    def measure(label, prepare, work):
        name = f"c{len(rows)}"
        if prepare:
            insert(db[name], docs)
        t = time.perf_counter()
        work(name)
        rows.append((label, time.perf_counter() - t))
        print(f"{label:<68} {rows[-1][1] / args.n * 1e6:8.1f} us/doc", flush=True)

    try:
        print(f"{args.n:,} documents, batches of {BATCH}, server "
              f"{client.server_info().get('version')}", flush=True)
        measure("insert_many (what the plain copy does to the cloud)", False,
                lambda c: insert(db[c], docs))
        measure("find, all documents (what the plain copy reads)", True,
                lambda c: list(db[c].find({}, batch_size=BATCH)))
        measure("mark: update cmd, {_id, updatedAt} $set (TempleSync's marks)", True,
                lambda c: update_statements(db, c, docs, lambda d: {
                    "q": {"_id": d["_id"], "updatedAt": d["updatedAt"]},
                    "u": {"$set": mark(d)}}))
        measure("mark: update cmd, {_id} $set (no compare-and-set)", True,
                lambda c: update_statements(db, c, docs, lambda d: {
                    "q": {"_id": d["_id"]}, "u": {"$set": mark(d)}}))
        measure("mark: update cmd, {_id} whole replacement", True,
                lambda c: update_statements(db, c, docs, lambda d: {
                    "q": {"_id": d["_id"]}, "u": {**d, **mark(d)}}))

        def ranges(c):
            ids = sorted(d["_id"] for d in docs)
            for i in range(0, len(ids), BATCH):
                db[c].update_many(
                    {"_id": {"$gte": ids[i], "$lte": ids[min(i + BATCH, len(ids)) - 1]}},
                    [{"$set": {"syncedAt": "$updatedAt", "syncStatus": "synced"}}])
        measure("mark: update_many over an _id range, pipeline $set", True, ranges)

        def merge(c):
            db[c + "_base"].insert_many([{"_id": d["_id"], "u": d["updatedAt"]} for d in docs])
            db[c + "_base"].aggregate([{"$merge": {
                "into": c, "on": "_id", "whenNotMatched": "discard",
                "whenMatched": [{"$set": {
                    "syncedAt": {"$cond": [{"$eq": ["$updatedAt", "$$new.u"]}, "$$new.u", "$syncedAt"]},
                    "syncStatus": {"$cond": [{"$eq": ["$updatedAt", "$$new.u"]}, "synced", "$syncStatus"]},
                }}]}}])
        measure("mark: $merge from a collection of versions (CAS; writing them included)", True, merge)
    finally:
        client.drop_database(db.name)
        if proc:
            proc.kill()


if __name__ == "__main__":
    main()
