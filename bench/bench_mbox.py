"""Benchmark: `read_mbox` against the standard library reading the same headers.

Baselines, on the same files in the same run:

* `raw scan`: the file mapped into memory and searched for every `\nFrom ` with
  `bytes.find`, nothing else: the speed limit of any reader that splits an mbox.

* `mailbox+compat32`: `mailbox.mbox` iterated with its default factory (the `email`
  package's compat32 parser, the fastest standard path), then the same metadata
  extracted: addresses with `email.utils.getaddresses`, Date with
  `parsedate_to_datetime`, Message-ID / In-Reply-To / References, X-GM-THRID,
  X-Gmail-Labels, List-Id, List-Unsubscribe, Precedence, Auto-Submitted, Received.
* `mailbox+default`: the same with `email.policy.default` (what current code is told to
  use; headers are parsed into structured objects on access).

Files: real mail no test or earlier tuning used (`bench/corpora.py`: four SpamAssassin
sets, 3,546 messages, built once from its npm package into bench/.cache/), the real
corpora from `../shared/data/mail/` (the tests use them), and a large file generated in
a temp dir by repeating the shared corpora (fresh Message-IDs and Gmail ids per copy, so
nothing is de-duplicated away) with base64 attachments of 200 KB-2 MB added to a share
of messages.

Every read_mbox run starts with its parsed-value caches emptied (addresses, labels,
zones, days), as in the fresh process of a first import: repeated runs in one process
would otherwise find every address already parsed.

Targets (issue 18 §2), printed as PASS/FAIL lines at the end:

* read_mbox at least 20x mailbox+compat32 on the real, untuned, small-message corpus;
* read_mbox at least 50% of the raw scan's rate on the generated attachment-heavy file;
* no message lost: on every file, records + quarantined + duplicates = `mailbox.mbox`'s
  message count.
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
import mmap
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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.corpora import CACHE_DIR, CorpusUnavailable, untuned_corpus  # noqa: E402
from connectors import headers  # noqa: E402
from connectors.takeout import ReadStats, dates, read_mbox  # noqa: E402
from connectors.takeout.mbox import parse_envelope  # noqa: E402
from connectors.takeout.message import record_from_headers  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "mail"
CORPORA = ("spamassassin-easy-ham-1.mbox", "emailnetwork-takeout-sample.mbox")
ADDRESS_HEADERS = ("From", "To", "Cc", "Bcc")
ID = re.compile(r"<([^<>]*[^<>\s][^<>]*)>")


# --- readers ------------------------------------------------------------------------------


BATCH_SIZE = 5000
# Memory runs use smaller batches so that both generated files fill several: what stays
# in memory is one batch (about 2 KB per record) plus the read buffer, whatever the size.
MEMORY_BATCH_SIZE = 1000


SEPARATOR = b"\nFrom "
SMALL_MAIL_RATIO = 20.0  # read_mbox against mailbox+compat32, real small-message mail
RAW_SCAN_SHARE = 0.5  # read_mbox's rate against the raw scan's, attachment-heavy mail


def run_ours(path: Path) -> int:
    headers.clear_caches()
    dates.clear_caches()
    stats = ReadStats()
    for _batch in read_mbox(path, "bench@example.com", stats=stats, batch_size=BATCH_SIZE):
        pass  # a loader would write the batch here
    return stats.messages + stats.quarantined + stats.duplicates


def run_raw_scan(path: Path) -> int:
    """Messages found by searching the mapped file for separators, and nothing else."""
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        find = data.find
        count = 0 if data[:5] != b"From " else 1
        pos = find(SEPARATOR)
        while pos >= 0:
            count += 1
            pos = find(SEPARATOR, pos + 1)
    return count


def mailbox_count(path: Path) -> int:
    """How many messages the standard library's mbox reader finds (the no-loss check)."""
    return len(mailbox.mbox(str(path)))


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
    "raw scan": run_raw_scan,
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


@dataclass
class FileFigures:
    """Each reader's times on one file (one per round) and what it counted."""

    path: Path
    times: dict[str, list[float]]
    counts: dict[str, int]
    stdlib_count: int

    @property
    def size_mb(self) -> float:
        return self.path.stat().st_size / 1e6

    def seconds(self, reader: str) -> float:
        return statistics.median(self.times[reader])

    def ratio(self, reader: str) -> float:
        """The median over rounds of `reader`'s time over read_mbox's (same round)."""
        pairs = zip(self.times[reader], self.times["read_mbox"], strict=True)
        return statistics.median(theirs / mine for theirs, mine in pairs)

    def rows(self) -> list[str]:
        lines = []
        for name, times in self.times.items():
            seconds, count = statistics.median(times), self.counts[name]
            ratio = ""
            if name != "read_mbox":
                pairs = zip(times, self.times["read_mbox"], strict=True)
                ratios = [theirs / mine for theirs, mine in pairs]
                if name == "raw scan":
                    ratio = f"{statistics.median(ratios):.0%} of its rate"
                else:
                    ratio = f"{statistics.median(ratios):.1f}x faster"
                    if len(ratios) > 1:
                        ratio += f" ({min(ratios):.1f}-{max(ratios):.1f})"
            lines.append(
                f"| {self.path.name} | {self.size_mb:.1f} | {count} | {name} | {seconds:.3f} | "
                f"{count / seconds:,.0f} | {self.size_mb / seconds:,.1f} | {ratio} |"
            )
        return lines


def measure_file(path: Path, readers: list[str], rounds: int, repeat: int) -> FileFigures:
    """Every reader on `path`, interleaved for `rounds` rounds, best of `repeat` runs each
    (1 for the slow standard-library baselines on files over 50 MB)."""
    size_mb = path.stat().st_size / 1e6
    times: dict[str, list[float]] = {name: [] for name in readers}
    counts: dict[str, int] = {}
    for _ in range(max(rounds, 1)):
        for name in readers:
            fast = name in ("read_mbox", "raw scan")
            seconds, counts[name] = timed(
                READERS[name], path, repeat if fast or size_mb < 50 else 1
            )
            times[name].append(seconds)
    return FileFigures(path, times, counts, mailbox_count(path))


# --- where the time goes ---------------------------------------------------------------

STAGES = (
    "the From_ search alone (each From_ line's end, then the next `\\nFrom `)",
    "+ the envelope (Gmail id, date)",
    "+ the header split (one findall per message, values unfolded)",
    "+ the record, caches cold (addresses, dates, ids, labels; as read_mbox runs)",
)


def stage_seconds(path: Path, repeat: int) -> tuple[list[float], float, int]:
    """read_mbox's per-message steps, cumulatively, over the whole file in memory.

    Returns the best time of each stage in `STAGES` (each includes the ones before it),
    the time of the last stage's record step alone with every cache warm (what remains
    when no value needs parsing: the lookups and the objects), and the message count.
    The file is read before the clock starts, so this leaves out reading, chunking,
    de-duplication and batches, which read_mbox's own time includes.
    """
    data = path.read_bytes()
    separator = re.compile(re.escape(SEPARATOR)).search
    now = datetime.now(UTC)
    latest = now + dates.FUTURE
    split = headers.split_header_span

    def run(level: int) -> tuple[float, list]:
        headers.clear_caches()
        dates.clear_caches()
        kept = []
        pos = 0
        start = time.perf_counter()
        while True:
            newline = data.find(b"\n", pos)
            found = separator(data, newline)
            following = found.start() if found is not None else len(data)
            if level >= 1:
                gmail_id, envelope_date = parse_envelope(data[pos:newline].rstrip(b"\r"))
                if level >= 2:
                    values = split(data, newline, following, False)
                    if level >= 3:
                        record_from_headers(
                            values, None, "b@example.com", "mbox", "", gmail_id,
                            envelope_date, now, latest, False, (), False,
                        )  # fmt: skip
                    else:
                        kept.append((values, gmail_id, envelope_date))
            if found is None:
                break
            pos = following + 1
        return time.perf_counter() - start, kept

    best = [min(run(level)[0] for _ in range(repeat)) for level in range(len(STAGES))]
    _, kept = run(2)
    warm = float("inf")
    for _ in range(repeat + 1):  # the first round fills the caches
        start = time.perf_counter()
        for values, gmail_id, envelope_date in kept:
            record_from_headers(
                values, None, "b@example.com", "mbox", "", gmail_id,
                envelope_date, now, latest, False, (), False,
            )  # fmt: skip
        warm = min(warm, time.perf_counter() - start)
    return best, warm, len(kept)


def stage_rows(path: Path, figures: FileFigures, repeat: int) -> list[str]:
    """A table of `stage_seconds` beside read_mbox, the 20x budget and the raw scan."""
    best, warm, count = stage_seconds(path, repeat)
    budget = figures.seconds("mailbox+compat32") / SMALL_MAIL_RATIO
    ratio = f"{SMALL_MAIL_RATIO:.0f}"
    rows = [
        (f"the {ratio}x budget (mailbox+compat32 / {ratio})", budget),
        ("raw scan (the file mapped, `bytes.find` only)", figures.seconds("raw scan")),
        *zip(STAGES, best, strict=True),
        ("the record step alone, every cache warm (lookups and objects only)", warm),
        ("read_mbox (adds chunked reading, de-duplication, batches)", figures.seconds("read_mbox")),
    ]
    lines = ["| step | seconds | us per message |", "|---|---:|---:|"]
    for label, seconds in rows:
        lines.append(f"| {label} | {seconds:.3f} | {seconds / count * 1e6:.1f} |")
    return lines


MARKS = {True: "PASS", False: "FAIL", None: "n/a "}


def verdicts(
    measured: dict[Path, FileFigures], real: Path | None, heavy: Path
) -> list[tuple[bool | None, str, str]]:
    """(passed, or None when not measured; target; evidence) for each target."""
    found: list[tuple[bool | None, str, str]] = []
    target = f"read_mbox >= {SMALL_MAIL_RATIO:.0f}x mailbox+compat32 on real small-message mail"
    if real is None or real not in measured:
        found.append((None, target, "the untuned corpus could not be built (bench/corpora.py)"))
    else:
        f = measured[real]
        ratio = f.ratio("mailbox+compat32")
        found.append((
            ratio >= SMALL_MAIL_RATIO, target,
            f"{ratio:.1f}x on {real.name} ({f.counts['read_mbox']:,} messages, "
            f"{f.size_mb:.0f} MB, used by no test): read_mbox {f.seconds('read_mbox'):.3f} s, "
            f"compat32 {f.seconds('mailbox+compat32'):.3f} s, raw scan "
            f"{f.seconds('raw scan'):.3f} s",
        ))  # fmt: skip
    f = measured[heavy]
    share = f.ratio("raw scan")
    found.append((
        share >= RAW_SCAN_SHARE,
        f"read_mbox >= {RAW_SCAN_SHARE:.0%} of the raw scan's rate on attachment-heavy mail",
        f"{share:.0%} on {heavy.name} (generated, {f.size_mb:.0f} MB): read_mbox "
        f"{f.seconds('read_mbox'):.3f} s, raw scan {f.seconds('raw scan'):.3f} s",
    ))  # fmt: skip
    found.append((
        all(f.counts["read_mbox"] == f.stdlib_count for f in measured.values()),
        "no message lost (records + quarantined + duplicates = mailbox.mbox's count)",
        ", ".join(f"{p.name} {f.counts['read_mbox']:,} of {f.stdlib_count:,}"
                  for p, f in measured.items()),
    ))  # fmt: skip
    return found


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
    parser.add_argument("--cache", type=Path, default=CACHE_DIR, help="untuned corpus cache")
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
        real = None
        try:
            real = untuned_corpus(args.cache)
        except CorpusUnavailable as error:
            print(f"(no untuned real corpus: {error})", file=sys.stderr)
        measured: dict[Path, FileFigures] = {}
        for path in [*([real] if real else []), *corpora, large]:
            figures = measure_file(path, readers, args.rounds, args.repeat)
            measured[path] = figures
            for line in figures.rows():
                print(line, flush=True)
        print()
        print("Targets (issue 18 §2):")
        print()
        for passed, target, evidence in verdicts(measured, real, large):
            print(f"- {MARKS[passed]} {target}: {evidence}")
        if real is not None and "mailbox+compat32" in readers:
            print()
            print(
                f"Where read_mbox's time goes on {real.name} (steps cumulative, file already "
                f"in memory, best of {args.repeat}; caches emptied before each run):"
            )
            print()
            for line in stage_rows(real, measured[real], args.repeat):
                print(line)

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
