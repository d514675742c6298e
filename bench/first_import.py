"""First import of a big Takeout mbox: `keepwarm run` end to end against the reader alone.

    .venv/bin/python bench/first_import.py                     # 520,000 messages
    .venv/bin/python bench/first_import.py --messages 50000    # a quicker look
    .venv/bin/python bench/first_import.py --profile out.prof  # cProfile of the run

Issue 18 §1: on an empty warehouse, `keepwarm run` over one Takeout mbox of at least 500k
messages should take at most twice as long as `read_mbox` alone on the same file. The mbox
is generated (Takeout's layout: `From <gmail id>@xxx` envelope, X-GM-THRID and
X-Gmail-Labels, small plain-text messages of about 540 bytes between a few thousand
people, a third of them replies) into bench/.cache/ and reused while its parameters stay
the same. Both runs happen in this one invocation, one after the other, each in a fresh
process, with the page cache warm for both (the file is read once before either).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "bench" / ".cache"
PYTHON = sys.executable
TARGET_RATIO = 2.0
TARGET_MESSAGES = 500_000
DEFAULT_MESSAGES = 520_000
ACCOUNT = "me@example.com"

_FIRST = ("Ana", "Ben", "Chloe", "Dev", "Eli", "Fatima", "Gus", "Hana", "Ivan", "June",
          "Kofi", "Lea", "Mateo", "Nia", "Omar", "Pia", "Quinn", "Rosa", "Sam", "Tariq")
_LAST = ("Ames", "Brook", "Costa", "Diaz", "Evans", "Fox", "Gray", "Hale", "Ito", "Jones",
         "Khan", "Lund", "Moreau", "Novak", "Okafor", "Park", "Quist", "Reyes", "Shah", "Tan")
_DOMAINS = ("acme.example", "northwind.example", "globex.example", "initech.example",
            "gmail.example", "umbrella.example", "hooli.example", "stark.example")
_WORDS = ("quarterly", "review", "draft", "meeting", "notes", "budget", "plan", "launch",
          "lunch", "question", "update", "follow", "up", "invoice", "agenda", "trip")


def generate(target: Path, messages: int, seed: int = 18) -> None:
    """Write a Takeout-style mbox of `messages` messages to `target` (about 540 B each)."""
    rng = random.Random(seed)
    people = []
    for i in range(6_000):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        address = f"{first.lower()}.{last.lower()}{i}@{rng.choice(_DOMAINS)}"
        people.append((f"{first} {last}", address))
    weights = [1 / (rank + 10) for rank in range(len(people))]  # a few close ties, a long tail
    start = datetime(2016, 1, 1, tzinfo=UTC)
    span = 9 * 365 * 86400
    times = sorted(rng.randrange(span) for _ in range(messages))
    gmail_base = 1_500_000_000_000_000_000
    open_threads: list[tuple[int, str, str]] = []  # (thread id, subject, last message id)
    temporary = target.with_name(f".{target.name}.tmp")
    with temporary.open("w", encoding="ascii", newline="\n") as out:
        for n, offset in enumerate(times):
            sent = start + timedelta(seconds=offset)
            gmail_id = gmail_base + n * 7919
            name, address = rng.choices(people, weights)[0]
            outbound = rng.random() < 0.35
            if open_threads and rng.random() < 0.35:
                thread, subject, parent = open_threads[rng.randrange(len(open_threads))]
                subject = f"Re: {subject}"
                reply = f"In-Reply-To: <{parent}>\nReferences: <{parent}>\n"
            else:
                thread = gmail_id
                subject = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(2, 5)))
                reply = ""
            message_id = f"{gmail_id:x}.{n}@mail.example"
            if len(open_threads) < 2_000:
                open_threads.append((thread, subject.removeprefix("Re: "), message_id))
            else:
                open_threads[rng.randrange(2_000)] = (thread, subject.removeprefix("Re: "),
                                                      message_id)
            me = f"Me <{ACCOUNT}>"
            them = f'"{name}" <{address}>'
            sender, recipient = (me, them) if outbound else (them, me)
            cc = ""
            if rng.random() < 0.25:
                extra = rng.sample(people, rng.randint(1, 3))
                cc = "Cc: " + ", ".join(f"{n2} <{a2}>" for n2, a2 in extra) + "\n"
            labels = "Sent" if outbound else rng.choice(("Inbox", "Inbox,Important",
                                                         "Archived", "Inbox,Category Updates"))
            body = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(8, 30)))
            out.write(
                f"From {gmail_id}@xxx {sent:%a %b %d %H:%M:%S +0000 %Y}\n"
                f"X-GM-THRID: {thread}\n"
                f"X-Gmail-Labels: {labels}\n"
                f"Message-ID: <{message_id}>\n"
                f"Date: {sent:%a, %d %b %Y %H:%M:%S +0000}\n"
                f"From: {sender}\n"
                f"To: {recipient}\n"
                f"{cc}{reply}"
                f"Subject: {subject}\n"
                "MIME-Version: 1.0\n"
                'Content-Type: text/plain; charset="UTF-8"\n'
                "\n"
                f"{body}\n\n"
            )
    temporary.replace(target)


def cached_mbox(messages: int) -> Path:
    path = CACHE / f"takeout-{messages}.mbox"
    if not path.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        print(f"generating {path} ...", flush=True)
        generate(path, messages)
    return path


_READER = """
import sys, time
from connectors.takeout.mbox import read_mbox
started = time.perf_counter()
count = 0
for batch in read_mbox(sys.argv[1], sys.argv[2]):
    count += len(batch.messages) + len(batch.quarantine)
print(time.perf_counter() - started, count)
"""


def time_reader(mbox: Path) -> tuple[float, int]:
    """read_mbox alone over the file, in a fresh process: (seconds, records)."""
    out = subprocess.run([PYTHON, "-c", _READER, str(mbox), ACCOUNT], cwd=REPO, check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[0]), int(out[1])


def write_config(work: Path, mbox: Path) -> Path:
    config = work / "keepwarm.yaml"
    config.write_text(
        f"me:\n  addresses: [{ACCOUNT}]\n"
        f"warehouse:\n  path: {work / 'keepwarm.duckdb'}\n"
        f"sources:\n  files:\n    account: {ACCOUNT}\n    mail: [{mbox}]\n",
        encoding="utf-8",
    )
    return config


def time_run(config: Path, profile: Path | None = None) -> tuple[float, int]:
    """`keepwarm run` on an empty warehouse in a fresh process: (seconds, exit status)."""
    command = [str(Path(PYTHON).with_name("keepwarm")), "--config", str(config), "run"]
    if profile:
        command = [PYTHON, "-m", "cProfile", "-o", str(profile), "-m", "pipelines.cli",
                   "--config", str(config), "run"]
    env = {**os.environ, "DAGSTER_HOME": str(config.parent / "dagster_home")}
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode:
        print(done.stdout[-2000:], done.stderr[-4000:], sep="\n", file=sys.stderr)
    return elapsed, done.returncode


def step_seconds(dagster_home: Path) -> list[tuple[str, float]]:
    """Where the run's time went: each Dagster step's seconds, start to success, then
    ("(the Dagster run, start to success)", seconds); read from the run's event log."""
    from dagster import DagsterEventType, DagsterInstance

    with DagsterInstance.from_config(str(dagster_home)) as instance:
        (run,) = instance.get_runs(limit=1)
        events = instance.all_logs(run.run_id, of_type={
            DagsterEventType.RUN_START, DagsterEventType.RUN_SUCCESS,
            DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS})
    started: dict[str, float] = {}
    steps: list[tuple[str, float]] = []
    run_span = [0.0, 0.0]
    for entry in events:
        kind = entry.dagster_event.event_type
        if kind == DagsterEventType.RUN_START:
            run_span[0] = entry.timestamp
        elif kind == DagsterEventType.RUN_SUCCESS:
            run_span[1] = entry.timestamp
        elif kind == DagsterEventType.STEP_START:
            started[entry.step_key] = entry.timestamp
        elif entry.step_key in started:
            steps.append((entry.step_key, entry.timestamp - started[entry.step_key]))
    steps.append(("(the Dagster run, start to success)", run_span[1] - run_span[0]))
    return steps


def print_steps(steps: list[tuple[str, float]], run: float, *, top: int = 8) -> None:
    """The slowest steps, then what the process spent outside the Dagster run."""
    *each, (label, in_run) = steps
    for step, seconds in sorted(each, key=lambda s: -s[1])[:top]:
        print(f"  {seconds:6.1f} s  {step}")
    rest = sum(seconds for _, seconds in sorted(each, key=lambda s: -s[1])[top:])
    print(f"  {rest:6.1f} s  the other {max(len(each) - top, 0)} steps")
    print(f"  {in_run:6.1f} s  {label}")
    print(f"  {run - in_run:6.1f} s  outside it (process start, instance, imports, digest)")


def raw_messages(config: Path) -> int:
    import duckdb

    with duckdb.connect(str(config.parent / "keepwarm.duckdb"), read_only=True) as con:
        return con.execute("select count(*) from raw.messages").fetchone()[0]


def verdict(messages: int, steps: list[tuple[str, float]] | None = None
            ) -> tuple[bool | None, str, str]:
    """One side-by-side run as a PASS/FAIL line for bench/run.py: (passed, target, detail).

    Given `steps`, the run's per-step seconds are added to it (`step_seconds`), followed by
    ("keepwarm run", its wall time).
    """
    mbox = cached_mbox(messages)
    mbox.read_bytes()  # the page cache warm for both runs alike
    reader, count = time_reader(mbox)
    with tempfile.TemporaryDirectory(prefix="keepwarm-first-import-") as work:
        config = write_config(Path(work), mbox)
        run, status = time_run(config)
        loaded = raw_messages(config) if status == 0 else 0
        if steps is not None and status == 0:
            steps.extend(step_seconds(Path(work) / "dagster_home"))
            steps.append(("keepwarm run", run))
    ratio = run / reader
    passed = status == 0 and loaded == count and ratio <= TARGET_RATIO
    size = mbox.stat().st_size / 1e6
    return (
        passed if messages >= TARGET_MESSAGES else None,
        f"first import (`keepwarm run`, empty warehouse) within {TARGET_RATIO:g}x the mbox "
        f"reader alone, >= {TARGET_MESSAGES:,} messages",
        f"{count:,} messages ({size:,.0f} MB): keepwarm run {run:.1f} s (exit {status}, "
        f"{loaded:,} rows in raw.messages), read_mbox alone {reader:.1f} s, {ratio:.2f}x",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=DEFAULT_MESSAGES)
    parser.add_argument("--profile", type=Path, default=None,
                        help="also write a cProfile of a second `keepwarm run` here")
    args = parser.parse_args()
    started = datetime.now(UTC)
    steps: list[tuple[str, float]] = []
    passed, target, detail = verdict(args.messages, steps)
    print(f"{started:%Y-%m-%d %H:%M} UTC, load average "
          f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(detail)
    label = {True: "PASS", False: "FAIL", None: "n/a (below the target's size)"}[passed]
    print(f"{label}: {target}")
    if steps:
        *steps, (_, run) = steps
        print("where `keepwarm run`'s time went:")
        print_steps(steps, run)
    if args.profile:
        with tempfile.TemporaryDirectory(prefix="keepwarm-first-import-") as work:
            config = write_config(Path(work), cached_mbox(args.messages))
            print(f"profiled run: {time_run(config, args.profile)[0]:.1f} s -> {args.profile}")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
