"""Benchmark: `read_mbox` against the standard library reading the same headers.

Baselines, on the same files in the same run:

* `mailbox+compat32`: `mailbox.mbox` iterated with its default factory (the `email`
  package's compat32 parser, the fastest standard path), then the same metadata
  extracted: addresses with `email.utils.getaddresses`, Date with
  `parsedate_to_datetime`, Message-ID / In-Reply-To / References, X-GM-THRID,
  X-Gmail-Labels, List-Id, List-Unsubscribe, Precedence, Auto-Submitted, Received.
* `mailbox+default`: the same with `email.policy.default` (what current code is told to
  use; headers are parsed into structured objects on access).

Files: the real corpora from `../shared/data/mail/`, and a large file generated in a temp
dir by repeating them (fresh Message-IDs and Gmail ids per copy, so nothing is
de-duplicated away) with base64 attachments of 200 KB-2 MB added to a share of messages.
Peak memory is measured in a fresh subprocess per reader and file (`ru_maxrss`), for
two generated sizes, to show it does not grow with the file.

    .venv/bin/python bench/bench_mbox.py                 # 300 MB and 60 MB generated
    .venv/bin/python bench/bench_mbox.py --size-mb 1000  # a bigger one
    .venv/bin/python bench/bench_mbox.py --rounds 5      # medians of 5 rounds

On a shared machine single timings swing by 10-20%. `--rounds N` times every reader on
each file N times, interleaved (one round = each reader in turn, best of `--repeat`), and
reports each reader's median and the median of the per-round ratios: a slow spell then
hits both sides of a ratio alike.
"""

from __future__ import annotations

import argparse
import base64
import email.parser
import email.policy
import email.utils
import mailbox
import os
import platform
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from connectors.takeout import ReadStats, read_mbox  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "mail"
CORPORA = ("spamassassin-easy-ham-1.mbox", "emailnetwork-takeout-sample.mbox")
ADDRESS_HEADERS = ("From", "To", "Cc", "Bcc")
ID = re.compile(r"<([^<>]*[^<>\s][^<>]*)>")


# --- readers ------------------------------------------------------------------------------


BATCH_SIZE = 5000
# Memory runs use smaller batches so that both generated files fill several: what stays
# in memory is one batch (about 2 KB per record) plus the read buffer, whatever the size.
MEMORY_BATCH_SIZE = 1000


def run_ours(path: Path) -> int:
    stats = ReadStats()
    for _batch in read_mbox(path, "bench@example.com", stats=stats, batch_size=BATCH_SIZE):
        pass  # a loader would write the batch here
    return stats.messages + stats.quarantined + stats.duplicates


def _extract_compat32(message: mailbox.mboxMessage) -> tuple:
    addresses = [email.utils.getaddresses(message.get_all(h, [])) for h in ADDRESS_HEADERS]
    date = message["Date"]
    try:
        sent_at = email.utils.parsedate_to_datetime(date) if date else None
    except (TypeError, ValueError):
        sent_at = None
    ids = [ID.findall(message.get(h) or "") for h in ("Message-ID", "In-Reply-To", "References")]
    labels = (message.get("X-Gmail-Labels") or "").split(",")
    return (
        addresses,
        sent_at,
        ids,
        message.get("X-GM-THRID"),
        labels,
        message.get("List-Id"),
        "List-Unsubscribe" in message,
        message.get("Precedence"),
        message.get("Auto-Submitted"),
        message.get("Received"),
        message.get_from(),
    )


def run_compat32(path: Path) -> int:
    count = 0
    for message in mailbox.mbox(str(path)):
        _extract_compat32(message)
        count += 1
    return count


def _parse_default(f):
    return email.parser.BytesParser(policy=email.policy.default).parse(f)


def _header(message, name):
    try:
        return message[name]
    except Exception:  # policy.default raises on some malformed headers
        return None


def run_default(path: Path) -> int:
    count = 0
    for message in mailbox.mbox(str(path), factory=_parse_default):
        for name in ADDRESS_HEADERS:
            value = _header(message, name)
            if value is not None:
                [(a.display_name, a.addr_spec) for a in getattr(value, "addresses", ())]
        date = _header(message, "Date")
        getattr(date, "datetime", None)
        for name in ("Message-ID", "In-Reply-To", "References"):
            ID.findall(str(_header(message, name) or ""))
        str(_header(message, "X-Gmail-Labels") or "").split(",")
        for name in ("X-GM-THRID", "List-Id", "Precedence", "Auto-Submitted", "Received"):
            _header(message, name)
        "List-Unsubscribe" in message  # noqa: B015
        count += 1
    return count


READERS: dict[str, Callable[[Path], int]] = {
    "read_mbox": run_ours,
    "mailbox+compat32": run_compat32,
    "mailbox+default": run_default,
}


# --- the generated file -------------------------------------------------------------------

_ENVELOPE_ID = re.compile(rb"^From (\d{1,20})@xxx", re.M)
_MESSAGE_ID = re.compile(rb"^(Message-I[Dd]:[ \t]*<)([^>@]*)", re.M | re.I)
_CONTENT = re.compile(
    rb"^(Content-Type|Content-Transfer-Encoding|MIME-Version):.*(?:\r?\n[ \t].*)*\r?\n", re.M | re.I
)


def split_messages(data: bytes) -> list[bytes]:
    starts = [0] + [m.start() + 1 for m in re.finditer(rb"\nFrom ", data)]
    return [data[a:b] for a, b in zip(starts, [*starts[1:], len(data)], strict=True)]


def with_attachment(message: bytes, rng: random.Random, size: int) -> bytes:
    """The message turned into multipart/mixed with a base64 attachment of `size` bytes."""
    newline = b"\r\n" if b"\r\n" in message[:200] else b"\n"
    head_end = message.find(newline + newline)
    if head_end < 0:
        return message
    head, body = message[: head_end + len(newline)], message[head_end + 2 * len(newline) :]
    part_headers = b"".join(m.group(0) for m in _CONTENT.finditer(head))
    head = _CONTENT.sub(b"", head)
    part_headers = (
        b"".join(
            line + newline
            for line in part_headers.splitlines()
            if not line.lower().startswith(b"mime-version")
        )
        or b"Content-Type: text/plain" + newline
    )
    boundary = b"=_bench_%d" % rng.getrandbits(48)
    payload = base64.encodebytes(rng.randbytes(size)).replace(b"\n", newline)
    return b"".join(
        [
            head,
            b"MIME-Version: 1.0" + newline,
            b'Content-Type: multipart/mixed; boundary="' + boundary + b'"' + newline,
            newline,
            b"--" + boundary + newline,
            part_headers,
            newline,
            body.rstrip(b"\r\n") + newline,
            b"--" + boundary + newline,
            b"Content-Type: application/pdf; name=report.pdf" + newline,
            b"Content-Disposition: attachment; filename=report.pdf" + newline,
            b"Content-Transfer-Encoding: base64" + newline,
            newline,
            payload,
            b"--" + boundary + b"--" + newline,
            newline,
        ]
    )


def fresh_gmail_id(original: bytes, copy: int) -> int:
    return (int(original) + copy * 2**52) % 2**63


def generate(corpora: list[Path], target: Path, size_bytes: int, share: float, seed: int) -> int:
    """Write `target` (about `size_bytes`) from copies of the corpora; returns messages."""
    rng = random.Random(seed)
    originals = [m for path in corpora for m in split_messages(path.read_bytes())]
    written = count = copy = 0
    with target.open("wb") as out:
        while written < size_bytes:
            copy += 1
            for message in originals:
                tag = b".c%d" % copy
                message = _MESSAGE_ID.sub(lambda m, tag=tag: m.group(1) + m.group(2) + tag, message)
                message = _ENVELOPE_ID.sub(
                    lambda m, copy=copy: b"From %d@xxx" % fresh_gmail_id(m.group(1), copy),
                    message,
                    count=1,
                )
                if rng.random() < share:
                    message = with_attachment(message, rng, rng.randint(200_000, 2_000_000))
                out.write(message)
                written += len(message)
                count += 1
                if written >= size_bytes:
                    break
    return count


# --- measuring ----------------------------------------------------------------------------


def timed(reader: Callable[[Path], int], path: Path, repeat: int) -> tuple[float, int]:
    best, count = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        count = reader(path)
        best = min(best, time.perf_counter() - start)
    return best, count


def peak_memory_mb(reader: str, path: Path) -> tuple[float, float]:
    """(peak RSS, peak Python allocations traced by tracemalloc) in MiB, each measured in
    a fresh interpreter running one reader over one file (tracing in a separate run, as
    it slows the reader down)."""
    values = []
    for mode in ("rss", "traced"):
        result = subprocess.run(
            [sys.executable, __file__, "--child", reader, str(path), mode],
            check=True,
            capture_output=True,
            text=True,
        )
        values.append(float(result.stdout.strip().splitlines()[-1]))
    return values[0], values[1]


def child(reader: str, path: Path, mode: str) -> None:
    global BATCH_SIZE
    BATCH_SIZE = MEMORY_BATCH_SIZE
    if mode == "traced":
        tracemalloc.start()
    if reader != "baseline-interpreter":
        READERS[reader](path)
    if mode == "traced":
        print(tracemalloc.get_traced_memory()[1] / 2**20)
    else:
        print(peak_rss_of_this_process())


def peak_rss_of_this_process() -> float:
    """VmHWM from /proc (MiB). ru_maxrss is no good in a child: Linux carries the parent's
    high-water mark across fork+exec, so every child would report the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with the corpora")
    parser.add_argument("--size-mb", type=int, default=300, help="size of the generated file")
    parser.add_argument("--small-size-mb", type=int, default=60, help="smaller generated file")
    parser.add_argument("--attachment-share", type=float, default=0.03)
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing (best kept)")
    parser.add_argument(
        "--rounds", type=int, default=1, help="interleaved rounds per file (medians reported)"
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the peak memory runs")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--no-default-policy", action="store_true", help="skip the slowest one")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), args.child[2])
        return 0

    corpora = [args.data / name for name in CORPORA]
    missing = [p for p in corpora if not p.is_file()]
    if missing:
        print(
            f"Missing corpus files: {', '.join(str(p) for p in missing)}.\n"
            f"Put {' and '.join(CORPORA)} in {args.data} (the shared test data; origin and "
            "licences in tests/fixtures/mail/README.md) or pass --data DIR.",
            file=sys.stderr,
        )
        return 2

    readers = [r for r in READERS if not (args.no_default_policy and r == "mailbox+default")]
    workdir = Path(tempfile.mkdtemp(prefix="bench_mbox_"))
    try:
        large = workdir / f"generated-{args.size_mb}MB.mbox"
        small = workdir / f"generated-{args.small_size_mb}MB.mbox"
        generated = {}
        for path, size in ((large, args.size_mb), (small, args.small_size_mb)):
            generated[path] = generate(
                corpora, path, size * 1_000_000, args.attachment_share, args.seed
            )

        print(f"# mbox reader benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
        print(
            f"# {platform.platform()}, Python {platform.python_version()}, "
            f"{os.cpu_count()} CPUs; best of {args.repeat} runs (1 for baselines on files "
            "over 50 MB)"
            + (f"; medians of {args.rounds} interleaved rounds" if args.rounds > 1 else "")
        )
        print()
        print("| file | MB | messages | reader | seconds | messages/s | MB/s | read_mbox is |")
        print("|---|---:|---:|---|---:|---:|---:|---:|")
        for path in [*corpora, large]:
            size_mb = path.stat().st_size / 1e6
            rounds: dict[str, list[float]] = {name: [] for name in readers}
            counts = {}
            for _ in range(max(args.rounds, 1)):
                for name in readers:
                    repeat = args.repeat if name == "read_mbox" or size_mb < 50 else 1
                    seconds, counts[name] = timed(READERS[name], path, repeat)
                    rounds[name].append(seconds)
            ours = rounds["read_mbox"]
            for name, times in rounds.items():
                seconds, count = statistics.median(times), counts[name]
                ratio = ""
                if name != "read_mbox":
                    ratios = [theirs / mine for theirs, mine in zip(times, ours, strict=True)]
                    ratio = f"{statistics.median(ratios):.1f}x faster"
                    if len(ratios) > 1:
                        ratio += f" ({min(ratios):.1f}-{max(ratios):.1f})"
                print(
                    f"| {path.name} | {size_mb:.1f} | {count} | {name} | {seconds:.3f} | "
                    f"{count / seconds:,.0f} | {size_mb / seconds:,.1f} | {ratio} |"
                )

        if not args.no_memory:
            print()
            print(
                "Peak memory in MiB: resident set (VmHWM) / Python allocations (tracemalloc), "
                f"fresh process per reader and file; read_mbox with batch_size={MEMORY_BATCH_SIZE}:"
            )
            print()
            files = (small, large)
            print("| reader | " + " | ".join(f"{p.name} RSS / traced" for p in files) + " |")
            print("|---|---:|---:|")
            idle = peak_memory_mb("baseline-interpreter", small)
            print(f"| interpreter + imports only | {idle[0]:.0f} / {idle[1]:.1f} | same |")
            for name in readers:
                peaks = [peak_memory_mb(name, path) for path in files]
                cells = " | ".join(f"{rss:.0f} / {traced:.1f}" for rss, traced in peaks)
                print(f"| {name} | {cells} |")
        print()
        print(
            f"Generated: {large.name} = {generated[large]} messages, "
            f"{small.name} = {generated[small]} messages "
            f"({args.attachment_share:.0%} with a 200 KB-2 MB base64 attachment)."
        )
        if args.keep:
            print(f"Kept in {workdir}")
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
