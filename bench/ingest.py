"""Ingest at a small size, through the existing benches' own functions.

bench_mbox.py and bench_gmail.py hold the full ingest figures (BENCHMARKS.md); this runs
their readers and their sync helper once on small inputs so that one run of bench/run.py
says whether ingest still behaves as recorded there, each against that bench's baseline.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import bench_gmail, bench_mbox
from bench.corpora import CorpusUnavailable, untuned_corpus

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


# Issue 18 §2 and §4, as PASS/FAIL lines of bench/run.py's targets.
HEAVY_MB = 100
HEAVY_MB_QUICK = 30
PLAN_MESSAGES = 20_000
PLAN_MESSAGES_QUICK = 2_000


def reader_verdicts(quick: bool = False) -> list[tuple[bool | None, str, str]]:
    """bench_mbox's three reader targets: the untuned real corpus against the standard
    library, a generated attachment-heavy file against the raw scan, no message lost."""
    corpora = [bench_mbox.DEFAULT_DATA / name for name in bench_mbox.CORPORA]
    if not all(p.is_file() for p in corpora):
        return [(None, "mbox reader targets (issue 18 §2)",
                 f"the shared corpora are missing from {bench_mbox.DEFAULT_DATA}")]  # fmt: skip
    try:
        real: Path | None = untuned_corpus()
    except CorpusUnavailable:
        real = None
    readers = ["read_mbox", "raw scan", "mailbox+compat32"]
    repeat = 1 if quick else 3
    with tempfile.TemporaryDirectory(prefix="keepwarm-bench-mbox-") as work:
        size = HEAVY_MB_QUICK if quick else HEAVY_MB
        heavy = Path(work) / f"generated-{size}MB.mbox"
        bench_mbox.generate(corpora, heavy, size * 1_000_000, 0.03, 20240601)
        measured = {
            path: bench_mbox.measure_file(path, readers, 1, repeat)
            for path in [*([real] if real else []), heavy]
        }
        return bench_mbox.verdicts(measured, real, heavy)


def plan_verdict(quick: bool = False) -> tuple[bool | None, str, str]:
    """bench_gmail's plan check on a synthetic mailbox, thread ids as Gmail names them
    and renumbered at random: units spent equal the optimum, one listing."""
    messages = PLAN_MESSAGES_QUICK if quick else PLAN_MESSAGES
    box = bench_gmail.synthetic_mailbox(messages, address=bench_gmail.ACCOUNT, seed=0)
    checks = [bench_gmail.plan_check("synthetic", box, renumber) for renumber in (False, True)]
    return (
        all(c.passed for c in checks),
        "Gmail full sync spends the optimum, sum of min(5n, 10) per thread + listing, "
        "whatever the thread ids",
        "; ".join(
            f"{c.thread_ids}: {c.units:,} units, optimum {c.optimum:,}, "
            f"{c.listings} listing call(s) for {c.pages} page(s)"
            for c in checks
        )
        + f" ({messages:,} messages)",
    )
