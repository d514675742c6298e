"""Ingest at a small size, through the existing benches' own functions.

bench_mbox.py and bench_gmail.py hold the full ingest figures (BENCHMARKS.md); this runs
their readers and their sync helper once on small inputs so that one run of bench/run.py
says whether ingest still behaves as recorded there, each against that bench's baseline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from bench import bench_gmail, bench_mbox

MBOX_CORPUS = "spamassassin-easy-ham-1.mbox"


@dataclass
class IngestFigure:
    figure: str
    input: str
    keepwarm: str
    compared_with: str
    ratio: str


def mbox_figure(data: Path = bench_mbox.DEFAULT_DATA, repeat: int = 3) -> IngestFigure | None:
    """read_mbox against mailbox + compat32 on the SpamAssassin corpus (2,500 messages)."""
    corpus = data / MBOX_CORPUS
    if not corpus.is_file():
        return None
    ours, count = bench_mbox.timed(bench_mbox.run_ours, corpus, repeat)
    theirs, _ = bench_mbox.timed(bench_mbox.run_compat32, corpus, 1)
    return IngestFigure(
        figure="ingest: mbox headers",
        input=f"{MBOX_CORPUS} ({count:,} messages)",
        keepwarm=f"read_mbox {ours:.2f} s ({count / ours:,.0f} msg/s)",
        compared_with=f"mailbox + compat32 {theirs:.2f} s ({count / theirs:,.0f} msg/s)",
        ratio=f"{theirs / ours:.1f}x faster",
    )


def gmail_figure(messages: int = 2_000, seed: int = 0) -> IngestFigure:
    """A full Gmail sync from the emulator (unthrottled) with the `auto` fetch strategy,
    against fetching every message with messages.get."""
    box = bench_gmail.synthetic_mailbox(messages, address=bench_gmail.ACCOUNT, seed=seed)
    figures = {}
    for strategy in ("auto", "messages"):
        with bench_gmail.GmailEmulator() as emulator:
            emulator.add_mailbox(box.copy())
            warehouse = bench_gmail.MemoryWarehouse()
            started = time.perf_counter()
            report = bench_gmail.sync(
                emulator, warehouse, box.address, bench_gmail.QuotaLimiter.for_ceiling(10**12),
                strategy=strategy,
            )
            figures[strategy] = (time.perf_counter() - started, report.quota_units)
    (wall, units), (_, naive_units) = figures["auto"], figures["messages"]
    return IngestFigure(
        figure="ingest: Gmail full sync",
        input=f"synthetic mailbox ({messages:,} messages, emulator)",
        keepwarm=f"auto {units / messages:.2f} units/msg, {wall:.1f} s",
        compared_with=f"messages.get each {naive_units / messages:.2f} units/msg",
        ratio=f"{1 - units / naive_units:.0%} fewer quota units",
    )
