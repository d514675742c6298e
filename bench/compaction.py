"""Warehouse size after 30 nightly runs with changes, against a fresh build of the same data.

Each night rewrites a share of the stored messages (same keys, new labels: a Gmail label
change), deletes some, adds new ones, and rebuilds the model incrementally, as a nightly
run does. After the last night the file's size is compared with a fresh warehouse built
from the same final raw rows, once without compaction and once with `engine.compaction`
run after each night (as the serving step does). Issue 17's target: within 1.2x.

    .venv/bin/python bench/compaction.py [--messages 40000] [--nights 30]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assets.tables import rebuild_model
from connectors.records import Address, Batch, MessageRecord
from engine.compaction import compact
from engine.config import load_config
from engine.warehouse import apply_batch, ensure_schema

ME = "me@work.example"
START = datetime(2025, 1, 1, tzinfo=UTC)
TARGET = 1.2


def message(rng: random.Random, key: int, night: int) -> MessageRecord:
    person = f"p{rng.randrange(2000)}@x{rng.randrange(50)}.example"
    sent = START + timedelta(minutes=rng.randrange(60 * 24 * 500))
    outbound = rng.random() < 0.4
    frm, to = (ME, [person]) if outbound else (person, [ME])
    return MessageRecord(
        account=ME, source="bench", message_key=f"k{key}", sent_at=sent,
        date_source="date_header", rfc_message_id=f"k{key}@bench", thread_key=f"t{key // 3}",
        from_addrs=[Address(frm)], to_addrs=[Address(a) for a in to],
        labels=["SENT"] if outbound else ["INBOX", f"night{night}"],
    )


def nights(messages: int, count: int, seed: int = 7):
    """The batches of the first build and of each night, and the final rows."""
    rng = random.Random(seed)
    rows = {k: message(rng, k, 0) for k in range(messages)}
    yield Batch(messages=list(rows.values())), []
    next_key = messages
    for night in range(1, count + 1):
        keys = list(rows)
        rewritten = rng.sample(keys, len(keys) // 10)
        deleted = rng.sample(keys, len(keys) // 50)
        for k in rewritten:
            rows[k] = message(random.Random(k * 1000 + night), k, night)
        for k in deleted:
            rows.pop(k, None)
        added = []
        for _ in range(messages // 50):
            rows[next_key] = message(rng, next_key, night)
            added.append(rows[next_key])
            next_key += 1
        changed = [rows[k] for k in rewritten if k in rows] + added
        yield Batch(messages=changed, deleted_message_keys=[(ME, f"k{k}") for k in deleted]), \
            list(rows.values())


def config(directory: Path, warehouse: Path):
    path = directory / f"{warehouse.stem}.yaml"
    path.write_text(yaml.safe_dump({
        "warehouse": {"path": str(warehouse)}, "me": {"addresses": [ME]},
        "status": {"as_of": "2026-06-01T00:00:00Z"}}), encoding="utf-8")
    return load_config(path)


def size(path: Path) -> int:
    with duckdb.connect(str(path)) as con:
        con.execute("checkpoint")
    return path.stat().st_size


def run(directory: Path, messages: int, count: int, compacting: bool) -> tuple[int, int, float]:
    warehouse = directory / ("compacted.duckdb" if compacting else "plain.duckdb")
    settings = config(directory, warehouse)
    final: list[MessageRecord] = []
    compactions = 0
    started = time.perf_counter()
    for batch, rows in nights(messages, count):
        with duckdb.connect(str(warehouse)) as con:
            ensure_schema(con)
            apply_batch(con, batch)
            rebuild_model(con, settings)
        if compacting:
            compactions += compact(warehouse).compacted
        final = rows or final
    seconds = time.perf_counter() - started
    after = size(warehouse)
    fresh = directory / ("fresh-c.duckdb" if compacting else "fresh.duckdb")
    with duckdb.connect(str(fresh)) as con:
        ensure_schema(con)
        apply_batch(con, Batch(messages=final))
        rebuild_model(con, config(directory, fresh))
    return after, size(fresh), seconds, compactions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=40_000)
    parser.add_argument("--nights", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for compacting in (False, True):
            after, fresh, seconds, compactions = run(Path(tmp), args.messages, args.nights,
                                                     compacting)
            ratio = after / fresh
            label = "with compaction" if compacting else "without compaction"
            verdict = "PASS" if ratio <= TARGET else "FAIL"
            print(f"{label}: {args.nights} nights over {args.messages:,} messages "
                  f"({seconds:.0f} s, {compactions} compactions): {after / 2**20:.1f} MiB "
                  f"vs a fresh build's {fresh / 2**20:.1f} MiB = {ratio:.2f}x "
                  f"[{verdict} target {TARGET}x]", flush=True)


if __name__ == "__main__":
    main()
