"""Benchmark: Gmail sync against the local emulator (real HTTP, real googleapiclient).

Measures, for the mailboxes below:

1. Quota units spent per message synced by each fetch strategy: `messages`
   (messages.get per message), `threads` (threads.get per thread) and `auto` (per
   thread, whichever is cheaper). Unthrottled; units do not depend on time.
2. A full sync of the large synthetic mailbox under a per-user ceiling (default 15,000
   units/minute): the share of the ceiling used, the most units the emulator saw in any
   60-second window, and the quota errors (429) it had to answer.
3. The wall time of an incremental sync with no changes (getProfile + one history.list),
   and of one with a few hundred changes.
4. The full sync's plan against the optimum (issue 18 §4): the units a first full sync
   spends against the least any plan can spend, computed from the emulator's own state
   (every thread at min(n x messages.get, threads.get), one listing, getProfile and the
   history.list after it), on each mailbox as loaded (threads named after their first
   message, as Gmail happens to do) and renumbered (random thread ids, which Google does
   not rule out), with a PASS/FAIL line per mailbox. Also checked: one listing only.

Mailboxes: the real Takeout sample and SpamAssassin corpus (../shared/data/mail/) and a
synthetic threaded mailbox (tests/emulators/synthetic.py; 100,000 messages by default).

Time: part 2 runs on a ScaledClock shared by the client's limiter and the emulator's
quota meter, so one simulated minute lasts 60/scale real seconds; everything real (HTTP,
JSON, the library's batch encoding) is slowed down by the same factor in simulated time,
so the client must still be fast enough to reach the ceiling. Parts 1 and 3 use real time.

    .venv/bin/python bench/bench_gmail.py                 # 100k messages, scale 20
    .venv/bin/python bench/bench_gmail.py --messages 20000 --scale 30
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from google.oauth2.credentials import Credentials  # noqa: E402

from connectors.google import (  # noqa: E402
    GMAIL_COSTS,
    MonotonicClock,
    QuotaLimiter,
    RetryPolicy,
    ScaledClock,
    SyncReport,
    build_gmail_service,
    sync_gmail,
)
from tests.emulators.gmail import GmailEmulator, GmailMailbox  # noqa: E402
from tests.emulators.memory import MemoryWarehouse  # noqa: E402
from tests.emulators.synthetic import synthetic_mailbox  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "mail"
ACCOUNT = "owner@example.com"
STRATEGIES = ("messages", "threads", "auto")


def sync(
    emulator: GmailEmulator,
    warehouse: MemoryWarehouse,
    address: str,
    limiter: QuotaLimiter,
    service: Any = None,
    **kwargs: Any,
) -> SyncReport:
    report = SyncReport(account=address)
    if service is None:
        service = build_gmail_service(Credentials(token="bench"), emulator.endpoint)
    batches = sync_gmail(
        service, address, warehouse.cursor(address), limiter=limiter, report=report, **kwargs
    )
    warehouse.apply_all(batches)
    return report


def optimum_units(box: GmailMailbox, costs: dict[str, int] = GMAIL_COSTS) -> int:
    """The least a first full sync of `box` can spend: each thread at min(n x
    messages.get, threads.get), one id listing (500 ids a page), getProfile, and the
    history.list the sync ends with."""
    sizes: dict[str, int] = {}
    for m in box.messages.values():
        sizes[m.thread_id] = sizes.get(m.thread_id, 0) + 1
    fetching = sum(min(n * costs["messages.get"], costs["threads.get"]) for n in sizes.values())
    pages = max(1, -(-len(box.messages) // 500))
    return (
        fetching + pages * costs["messages.list"] + costs["users.getProfile"]
        + costs["history.list"]
    )  # fmt: skip


@dataclass
class PlanCheck:
    """One first full sync (strategy auto) against the optimum."""

    mailbox: str
    thread_ids: str
    messages: int
    units: int
    optimum: int
    listings: int
    pages: int
    exact: bool

    @property
    def passed(self) -> bool:
        return self.units == self.optimum and self.listings == self.pages and self.exact

    def line(self) -> str:
        return (
            f"{'PASS' if self.passed else 'FAIL'} full sync plan, {self.mailbox} "
            f"({self.messages:,} msgs, {self.thread_ids}): {self.units:,} units spent, "
            f"optimum {self.optimum:,} ({self.units / self.optimum:.3f}x); "
            f"messages.list calls {self.listings} for {self.pages} page(s); "
            f"result exact: {self.exact}"
        )


def plan_check(name: str, box: GmailMailbox, renumber: bool, seed: int = 0) -> PlanCheck:
    """A first full sync of a copy of `box`, its thread ids renumbered at random or not."""
    box = box.copy()
    if renumber:
        box.renumber_threads(seed)
    with GmailEmulator() as emulator:
        emulator.add_mailbox(box)
        warehouse = MemoryWarehouse()
        sync(
            emulator,
            warehouse,
            box.address,
            QuotaLimiter.for_ceiling(10**12),
            known_message_keys=lambda: warehouse.keys(box.address),
        )
        return PlanCheck(
            mailbox=name,
            thread_ids="random thread ids" if renumber else "thread id = first message id",
            messages=len(box.messages),
            units=emulator.quota[box.address].total,
            optimum=optimum_units(box),
            listings=emulator.stats.calls["gmail.users.messages.list"],
            pages=max(1, -(-len(box.messages) // 500)),
            exact=set(warehouse.keys(box.address)) == set(box.messages),
        )


def thread_shape(box: GmailMailbox) -> str:
    sizes: dict[str, int] = {}
    for m in box.messages.values():
        sizes[m.thread_id] = sizes.get(m.thread_id, 0) + 1
    singles = sum(1 for n in sizes.values() if n == 1)
    return (
        f"{len(box.messages):,} msgs, {len(sizes):,} threads "
        f"({len(box.messages) / len(sizes):.2f}/thread, {singles / len(sizes):.0%} single)"
    )


def strategies(name: str, box: GmailMailbox) -> list[str]:
    rows = []
    for strategy in STRATEGIES:
        with GmailEmulator() as emulator:
            emulator.add_mailbox(box.copy())
            warehouse = MemoryWarehouse()
            started = time.perf_counter()
            report = sync(
                emulator,
                warehouse,
                box.address,
                QuotaLimiter.for_ceiling(10**12),
                strategy=strategy,
            )
            wall = time.perf_counter() - started
            assert len(warehouse.messages) == len(box.messages), "sync was not exact"
            calls = ", ".join(f"{k} {v:,}" for k, v in sorted(report.calls.items()))
            rows.append(
                f"| {name} | {strategy} | {report.quota_units:,} | "
                f"{report.quota_units / len(box.messages):.2f} | {wall:.1f} s | {calls} |"
            )
        print(rows[-1], flush=True)
    return rows


def ceiling_run(box: GmailMailbox, ceiling: int, scale: float, seed: int) -> tuple[list[str], Any]:
    clock = ScaledClock(scale)
    with GmailEmulator(units_per_minute=ceiling, clock=clock.now) as emulator:
        emulator.add_mailbox(box)
        warehouse = MemoryWarehouse()
        started = time.perf_counter()
        report = sync(
            emulator,
            warehouse,
            box.address,
            QuotaLimiter.for_ceiling(ceiling, clock=clock),
            retry=RetryPolicy(rng=random.Random(seed)),
            clock=clock,
        )
        wall = time.perf_counter() - started
        exact = len(warehouse.messages) == len(box.messages)
        meter = emulator.quota[box.address]
        first, last = meter.log[0][0], meter.log[-1][0]
        minutes = (last - first) / 60
        share = meter.total / (minutes * ceiling)
        rows = [
            f"| mailbox | {thread_shape(box)} |",
            f"| ceiling | {ceiling:,} units/min/user; limiter burst 5%, sustained 95% |",
            f"| clock | ScaledClock x{scale:g}: {minutes:.1f} simulated min = {wall:.0f} s real |",
            f"| units charged | {meter.total:,} ({meter.total / len(box.messages):.2f}/message) |",
            f"| share of ceiling used | {share:.1%} (units / (sync minutes x ceiling)) |",
            f"| most units in any 60 s window | {meter.max_in_window:,} |",
            f"| 429s answered by the emulator | {emulator.stats.quota_rejections} "
            f"(client retries {report.retries}) |",
            f"| client throttled (limiter waits) | {report.stats.throttled_seconds / 60:.1f} "
            "simulated min |",
            f"| result exact | {exact} ({len(warehouse.messages):,} rows) |",
        ]
        for row in rows:
            print(row, flush=True)
        return rows, warehouse


def incremental(box: GmailMailbox, warehouse: MemoryWarehouse, repeats: int) -> list[str]:
    rows = []
    with GmailEmulator() as emulator:
        emulator.add_mailbox(box)
        limiter = QuotaLimiter.for_ceiling(15_000, clock=MonotonicClock())
        # One client per account, built once (building one costs ~30 ms of its own).
        service = build_gmail_service(Credentials(token="bench"), emulator.endpoint)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            report = sync(emulator, warehouse, box.address, limiter, service)
            times.append(time.perf_counter() - started)
        rows.append(
            f"| no changes | {statistics.median(times) * 1000:.1f} ms median of {repeats} "
            f"(min {min(times) * 1000:.1f}) | {report.quota_units} units | "
            + ", ".join(f"{k} {v}" for k, v in sorted(report.calls.items()))
            + " |"
        )
        print(rows[-1], flush=True)
        rng = random.Random(1)
        ids = [k for _, k in box.ordered()]
        for i in range(200):
            box.add_message([("From", f"new{i}@example.org"), ("To", box.address)])
        for mid in rng.sample(ids, 300):
            box.modify_labels(mid, add=["TRASH"], remove=["INBOX"])
        for mid in rng.sample(ids, 100):
            if mid in box.messages:
                box.delete_message(mid)
        started = time.perf_counter()
        report = sync(emulator, warehouse, box.address, limiter, service)
        wall = time.perf_counter() - started
        exact = set(warehouse.keys(box.address)) == set(box.messages)
        rows.append(
            f"| 200 new, 300 to Trash, 100 deleted | {wall * 1000:.0f} ms | "
            f"{report.quota_units} units | "
            + ", ".join(f"{k} {v}" for k, v in sorted(report.calls.items()))
            + f"; exact: {exact}; limiter waits {report.stats.throttled_seconds:.1f} s |"
        )
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--ceiling", type=int, default=15_000)
    parser.add_argument("--scale", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    print(f"# Gmail sync benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}\n")

    mailboxes = []
    for name in ("emailnetwork-takeout-sample.mbox", "spamassassin-easy-ham-1.mbox"):
        if (DATA / name).exists():
            mailboxes.append((name, GmailMailbox.from_mbox(DATA / name, ACCOUNT)))
    started = time.perf_counter()
    big = synthetic_mailbox(args.messages, address=ACCOUNT, seed=args.seed)
    print(f"synthetic mailbox generated in {time.perf_counter() - started:.1f} s\n")
    mailboxes.append((f"synthetic {args.messages // 1000}k", big))

    print("## Mailboxes\n")
    for name, box in mailboxes:
        print(f"- {name}: {thread_shape(box)}")

    print("\n## 1. Quota units per message synced, by strategy (unthrottled)\n")
    print("| mailbox | strategy | units | units/message | wall | calls |")
    print("|---|---|---:|---:|---:|---|")
    for name, box in mailboxes:
        strategies(name, box)

    print(f"\n## 2. Full sync of {args.messages:,} messages under the per-user ceiling\n")
    print("| | |\n|---|---|")
    _, warehouse = ceiling_run(big, args.ceiling, args.scale, args.seed)

    print("\n## 3. Incremental sync (real time, after part 2)\n")
    print("| changes | wall | quota | calls |\n|---|---:|---:|---|")
    incremental(big, warehouse, args.repeats)

    print("\n## 4. The full sync's plan against the optimum (first sync, strategy auto)\n")
    plan_box = synthetic_mailbox(min(args.messages, 20_000), address=ACCOUNT, seed=args.seed)
    plan_boxes = [*mailboxes[:-1], (f"synthetic {len(plan_box.messages) // 1000}k", plan_box)]
    for name, box in plan_boxes:
        for renumber in (False, True):
            print(f"- {plan_check(name, box, renumber, args.seed).line()}", flush=True)


if __name__ == "__main__":
    main()
