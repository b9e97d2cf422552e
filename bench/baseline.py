#!/usr/bin/env python3
"""The baseline of TempleSync's benchmarks: the original system's sync algorithm, as written.

This is the "Sync Process" of the original Temple Management System's sync documentation
(shared/seed/000_051e806f92146d7d.txt, section "How It Works" / "Sync Process"), run as it
is written there, with pymongo's synchronous API in place of Motor's `await`:

Phase 1, push local changes to the remote, for each collection:

    query = {"$or": [{"syncedAt": {"$exists": False}},
                     {"syncedAt": None},
                     {"$expr": {"$gt": ["$updatedAt", "$syncedAt"]}}]}
    local_docs = local_collection.find(query).to_list(length=None)
    for doc in local_docs:
        if has_unique_field_conflict(doc): mark_as_conflict(doc); continue
        remote_collection.update_one({"_id": doc["_id"]}, {"$set": doc}, upsert=True)
        local_collection.update_one({"_id": doc["_id"]},
                                    {"$set": {"syncedAt": datetime.utcnow(), "syncStatus": "synced"}})

Phase 2, pull remote changes to local:

    remote_docs = remote_collection.find({}).to_list(length=None)
    for remote_doc in remote_docs:
        local_doc = local_collection.find_one({"_id": remote_doc["_id"]})
        if local_doc:
            if remote_doc["updatedAt"] > local_doc["updatedAt"]:
                local_collection.update_one({"_id": remote_doc["_id"]}, {"$set": remote_doc})
        else:
            local_collection.insert_one(remote_doc)

It is kept as the reference it is: nothing is batched, nothing is streamed (both phases
collect their query into a list first, as `to_list(length=None)` does), deletes are not
propagated on either side, and a document edited on both sides is decided by `updatedAt`
alone. `has_unique_field_conflict` is the documented check of the unique fields
(`admins.username`): another remote document holding the same value.

Usage: baseline.py --local-url U --remote-url U --db NAME [--collections admins,bookings,events]
Prints one JSON document on stdout: timings, documents read per side, writes.
"""

import argparse
import json
import sys
import time
import warnings
from datetime import datetime

import pymongo

# datetime.utcnow() is what the original code calls; newer Pythons warn about it.
warnings.filterwarnings("ignore", category=DeprecationWarning)

# The documented unique fields: "Currently tracked unique fields: admins.username".
UNIQUE_FIELDS = {"admins": ["username"]}


class Stats:
    def __init__(self):
        self.read_local = 0
        self.read_remote = 0
        self.pushed = {}
        self.pulled = {}
        self.conflicts = {}
        self.phase1_seconds = 0.0
        self.phase2_seconds = 0.0

    def add(self, counts, name, n=1):
        counts[name] = counts.get(name, 0) + n


def has_unique_field_conflict(name, doc, remote_collection, stats):
    for field in UNIQUE_FIELDS.get(name, []):
        if field not in doc:
            continue
        other = remote_collection.find_one({field: doc[field], "_id": {"$ne": doc["_id"]}})
        if other is not None:
            stats.read_remote += 1
            return True
    return False


def mark_as_conflict(local_collection, doc):
    local_collection.update_one({"_id": doc["_id"]}, {"$set": {"syncStatus": "conflict"}})


def sync_collection(local_db, remote_db, name, stats):
    local_collection = local_db[name]
    remote_collection = remote_db[name]

    # Phase 1: Push Local Changes to Remote
    t0 = time.perf_counter()
    query = {
        "$or": [
            {"syncedAt": {"$exists": False}},
            {"syncedAt": None},
            {"$expr": {"$gt": ["$updatedAt", "$syncedAt"]}},
        ]
    }
    local_docs = list(local_collection.find(query))
    stats.read_local += len(local_docs)
    for doc in local_docs:
        if has_unique_field_conflict(name, doc, remote_collection, stats):
            mark_as_conflict(local_collection, doc)
            stats.add(stats.conflicts, name)
            continue
        remote_collection.update_one({"_id": doc["_id"]}, {"$set": doc}, upsert=True)
        local_collection.update_one(
            {"_id": doc["_id"]},
            {"$set": {"syncedAt": datetime.utcnow(), "syncStatus": "synced"}},
        )
        stats.add(stats.pushed, name)
    del local_docs
    t1 = time.perf_counter()
    stats.phase1_seconds += t1 - t0

    # Phase 2: Pull Remote Changes to Local
    remote_docs = list(remote_collection.find({}))
    stats.read_remote += len(remote_docs)
    for remote_doc in remote_docs:
        local_doc = local_collection.find_one({"_id": remote_doc["_id"]})
        if local_doc:
            stats.read_local += 1
            # Compare timestamps
            if remote_doc["updatedAt"] > local_doc["updatedAt"]:
                local_collection.update_one({"_id": remote_doc["_id"]}, {"$set": remote_doc})
                stats.add(stats.pulled, name)
        else:
            local_collection.insert_one(remote_doc)
            stats.add(stats.pulled, name)
    del remote_docs
    stats.phase2_seconds += time.perf_counter() - t1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--local-url", required=True)
    p.add_argument("--remote-url", required=True)
    p.add_argument("--db", required=True)
    p.add_argument("--collections", default="admins,bookings,events")
    a = p.parse_args()

    t0 = time.perf_counter()
    local = pymongo.MongoClient(a.local_url)
    remote = pymongo.MongoClient(a.remote_url)
    local_db, remote_db = local[a.db], remote[a.db]
    stats = Stats()
    for name in [c for c in a.collections.split(",") if c]:
        sync_collection(local_db, remote_db, name, stats)
    seconds = time.perf_counter() - t0
    local.close()
    remote.close()
    json.dump(
        {
            "seconds": seconds,
            "phase1Seconds": stats.phase1_seconds,
            "phase2Seconds": stats.phase2_seconds,
            "documentsRead": {"local": stats.read_local, "remote": stats.read_remote},
            "pushed": stats.pushed,
            "pulled": stats.pulled,
            "conflicts": stats.conflicts,
            "python": sys.version.split()[0],
            "pymongo": pymongo.version,
        },
        sys.stdout,
    )
    print()


if __name__ == "__main__":
    main()
