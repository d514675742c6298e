"""A seeded, bounded fuzzer of the file readers (issue 17 §1): mbox, Maildir, .ics, and
a `**` glob over a folder tree holding them (`read_mail_paths`).

Each mutant is a seed from tests/fixtures changed by a few random edits (bytes flipped,
ranges cut, copied or truncated, line ends changed, and tokens known to have hurt a
reader inserted at line starts: codecs that are no charsets, runaway recurrence rules,
unknown time zones, obfuscated or domain-less addresses, NUL bytes, From_ lines). It is
read by the real reader in a forked process of its own, under an address-space limit
(`resource.setrlimit(RLIMIT_AS)`) and a wall-clock timeout. A mutant passes when the
reader finishes inside both bounds without raising: every message or event in it is then
read or quarantined (the readers quarantine what they cannot read, with a locator).

The same seed and count give the same mutants, so a failure is reproduced by its
(reader, seed, index); `write_mutant` saves one to a file.

Used by tests/test_fuzz.py (a small budget) and bench/fuzz_readers.py (a larger one).
"""

from __future__ import annotations

import multiprocessing
import random
import resource
import shutil
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
ACCOUNT = "me@example.org"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = (datetime(2023, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
MAX_EDITS = 4
MAX_SIZE = 256 * 1024  # a mutant never grows past this
TIMEOUT_S = 60.0  # per mutant: far above a normal read, far below a runaway one
MEMORY_MB = 768  # address space a mutant's read may add to the forked process

MAIL_TOKENS = [
    b"From: =?base64?B?WsO2w6s=?= <zoe@example.com>\n",
    b"Subject: =?rot13?Q?uryyb?= =?hex?B?AAAA?= =?zlib?B?eJw=?=\n",
    b"To: =?undefined?Q?x?= <x@example.com>, =?uu?B?AA==?= <y@example.com>\n",
    b"Cc: =?quopri?Q?a=3Db?= <q@example.com>, =?bz2?B?QlpoOQ==?= <b@example.com>\n",
    b"From: jjl at pobox.com (John J. Lee)\n",
    b"To: jjl\n",
    b"From: <>\n",
    b"Sender: a @ example.com\n",
    b"Date: Mon, 31 Feb 99999 25:61:61 +9999\n",
    b"Date: \n",
    b"Message-ID: <>\n",
    b"References: " + b"<a@b> " * 400 + b"\n",
    b"In-Reply-To: bob@example.org's message of \"Wed, 4 Sep 2002\"\n",
    b"X-Gmail-Labels: \"Inbox,\r\n",
    b"X-GM-THRID: 99999999999999999999999\n",
    b"Received: from x by y; Thu, 1 Jan 1970 00:00:00 +0000\n",
    b"From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n",
    b"From \n",
    b"\x00\x00\x00",
    b"\n\n",
    b"\r",
    b" \t folded continuation\n",
    b"Subject: " + b"x" * 5000 + b"\n",
]

ICS_TOKENS = [
    b"RRULE:FREQ=SECONDLY\r\n",
    b"RRULE:FREQ=MINUTELY\r\n",
    b"RRULE:FREQ=DAILY;INTERVAL=0\r\n",
    b"RRULE:FREQ=SECONDLY;INTERVAL=0\r\n",
    b"RRULE:FREQ=HOURLY;COUNT=999999999\r\n",
    b"RRULE:FREQ=YEARLY;BYMONTH=13\r\n",
    b"RRULE:FREQ=WEEKLY;BYDAY=XX\r\n",
    b"RRULE:garbage\r\n",
    b"DTSTART;TZID=Nowhere/Zone:20240301T100000\r\n",
    b"DTEND;TZID=Nowhere/Zone:20230301T100000\r\n",
    b"DTSTART:20240301\r\n",
    b"DTEND:19000101T000000Z\r\n",
    b"DURATION:-P1D\r\n",
    b"EXDATE:garbage\r\n",
    b"RDATE;VALUE=PERIOD:20240101T000000Z/PT1H\r\n",
    b"RECURRENCE-ID:20240101T000000Z\r\n",
    b"BEGIN:VEVENT\r\n",
    b"END:VEVENT\r\n",
    b"END:VCALENDAR\r\n",
    b"BEGIN:VTIMEZONE\r\nTZID:X\r\nEND:VTIMEZONE\r\n",
    b"ATTENDEE:mailto:jjl\r\n",
    b"ATTENDEE;CN=\"a:b\":mailto:jjl at pobox.com\r\n",
    b"ORGANIZER:mailto:\r\n",
    b"UID:\r\n",
    b"STATUS:\x00\r\n",
    b" folded\r\n",
]


@dataclass(frozen=True)
class Reader:
    """One reader under fuzz: its seed bytes, its tokens, and how to read a mutant."""

    name: str
    seed: Callable[[], bytes]
    tokens: list[bytes]
    read: Callable[[Path, bytes], Counter]


def _mbox_seed() -> bytes:
    # The first messages of the Takeout sample (cut at a From_ line), then the malformed
    # single-message files, each behind a From_ line of its own.
    data = (FIXTURES / "mail" / "emailnetwork-takeout-sample.mbox").read_bytes()
    cut = data.find(b"\nFrom ", 24 * 1024)
    parts = [data[: cut + 1] if cut > 0 else data[: 24 * 1024]]
    for name in ("flanker-encoded-header.eml", "flanker-from-encoding.eml", "mail_malformed_1"):
        body = (FIXTURES / "mail" / "malformed" / name).read_bytes()[:8 * 1024]
        parts.append(b"From someone@example.com Mon Jan  1 09:00:00 2024\n" + body + b"\n")
    return b"".join(parts)


def _ics_seed() -> bytes:
    return (FIXTURES / "calendar" / "keepwarm" / "ana-work.ics").read_bytes()


def _messages(mbox: bytes) -> list[bytes]:
    # Whole dated messages of the seed mbox, without their From_ lines.
    chunks = [c.split(b"\n", 1)[1] for c in mbox.split(b"\nFrom ")[1:] if b"\n" in c]
    return [c for c in chunks if b"\nDate:" in c][:5]


def _tally(batches: Iterable) -> Counter:
    counts: Counter = Counter()
    for batch in batches:
        counts["messages"] += len(batch.messages)
        counts["events"] += len(batch.events)
        counts["quarantined"] += len(batch.quarantine)
        for record in batch.quarantine:
            if not record.locator or not record.reason:
                raise AssertionError(f"quarantined without a locator or reason: {record}")
    return counts


def _read_mbox(folder: Path, data: bytes) -> Counter:
    from connectors.takeout import read_mbox

    path = folder / "mutant.mbox"
    path.write_bytes(data)
    return _tally(read_mbox(path, ACCOUNT, include_subject=True, now=NOW))


def _read_maildir(folder: Path, data: bytes) -> Counter:
    # The mutant is one message among clean ones, with a stray file beside cur/ and new/.
    from connectors.takeout.maildir import read_maildir

    root = _maildir_with(folder, data)
    return _tally(read_maildir(root, ACCOUNT, include_subject=True, now=NOW))


def _read_tree(folder: Path, data: bytes) -> Counter:
    # A `**` glob over a folder tree: a Maildir, the mutant beside it and inside it (outside
    # cur/ and new/), a folder with no mail: the glob keeps what is mail and counts the rest.
    from connectors.takeout import ReadStats, read_mail_paths

    _maildir_with(folder / "Mail", data)
    (folder / "Mail" / "mutant.mbox").write_bytes(data)
    (folder / "Mail" / "photos").mkdir()
    stats = ReadStats()
    counts = _tally(read_mail_paths(str(folder / "Mail" / "**"), ACCOUNT, stats=stats))
    counts["skipped"] = sum(stats.skipped.values())
    return counts


def _maildir_with(parent: Path, data: bytes) -> Path:
    root = parent / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i, message in enumerate(_messages(_mbox_seed())[:3]):
        (root / "cur" / f"{i}.host:2,S").write_bytes(message)
    (root / "new" / "mutant.host").write_bytes(data)
    (root / "dovecot-uidlist").write_bytes(b"3 V1 1733360000 N4\n")
    return root


def _read_ics(folder: Path, data: bytes) -> Counter:
    from connectors.takeout.ics import read_ics

    path = folder / "mutant.ics"
    path.write_bytes(data)
    return _tally(read_ics(path, ACCOUNT, window_start=WINDOW[0], window_end=WINDOW[1],
                           include_summary=True, max_instances_per_series=2000,
                           max_seconds_per_series=2.0))


READERS = {
    "mbox": Reader("mbox", _mbox_seed, MAIL_TOKENS, _read_mbox),
    "maildir": Reader("maildir", lambda: _messages(_mbox_seed())[3], MAIL_TOKENS, _read_maildir),
    "ics": Reader("ics", _ics_seed, ICS_TOKENS, _read_ics),
    "tree": Reader("tree", lambda: _messages(_mbox_seed())[3], MAIL_TOKENS, _read_tree),
}


def mutate(data: bytes, tokens: list[bytes], rng: random.Random) -> bytes:
    """`data` changed by 1 to MAX_EDITS random edits, at most MAX_SIZE bytes long."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, MAX_EDITS)):
        edit = rng.randrange(8)
        at = rng.randint(0, len(buf))
        if edit <= 2:  # a token at a line start (most damage is done by whole lines)
            line = buf.rfind(b"\n", 0, at) + 1
            buf[line:line] = rng.choice(tokens)
        elif edit == 3 and buf:  # bytes flipped
            for _ in range(rng.randint(1, 8)):
                buf[rng.randrange(len(buf))] = rng.randrange(256)
        elif edit == 4:  # a range cut
            del buf[at : at + rng.randint(1, 512)]
        elif edit == 5:  # a range copied elsewhere
            piece = bytes(buf[at : at + rng.randint(1, 2048)])
            where = rng.randint(0, len(buf))
            buf[where:where] = piece
        elif edit == 6:  # truncated
            del buf[at:]
        else:  # line ends changed in a stretch
            end = min(len(buf), at + rng.randint(1, 4096))
            old, new = rng.choice([(b"\r\n", b"\n"), (b"\n", b"\r\n"), (b"\n", b"\r")])
            buf[at:end] = bytes(buf[at:end]).replace(old, new)
    return bytes(buf[:MAX_SIZE])


def mutants(reader: Reader, seed: int, count: int) -> Iterable[tuple[int, bytes]]:
    """The `count` mutants of `reader` for `seed`: the same every time."""
    base = reader.seed()
    for index in range(count):
        rng = random.Random(f"{seed}:{reader.name}:{index}")
        yield index, mutate(base, reader.tokens, rng)


def write_mutant(reader: str, seed: int, index: int, path: Path) -> Path:
    """Save one mutant, to reproduce a failure outside the fuzzer."""
    rng = random.Random(f"{seed}:{reader}:{index}")
    path.write_bytes(mutate(READERS[reader].seed(), READERS[reader].tokens, rng))
    return path


def _vm_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _child(reader: str, folder: str, data: bytes, memory_mb: int, conn) -> None:
    try:
        limit = _vm_bytes() + memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        counts = READERS[reader].read(Path(folder), data)
        conn.send(("ok", dict(counts)))
    except MemoryError:
        conn.send(("memory", f"MemoryError past {memory_mb} MiB"))
    except BaseException as error:
        conn.send(("raised", "".join(traceback.format_exception(error))[-2000:]))
    finally:
        conn.close()


@dataclass
class Outcome:
    """What happened to one mutant."""

    reader: str
    index: int
    status: str  # ok | raised | memory | timeout | died
    detail: str = ""
    counts: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def kind(self) -> str:
        """read (records, none quarantined), quarantined (some), empty, or the failure."""
        if self.status != "ok":
            return self.status
        if self.counts.get("quarantined"):
            return "quarantined"
        return "read" if self.counts.get("messages") or self.counts.get("events") else "empty"


def run_one(reader: str, index: int, data: bytes, workdir: Path, timeout_s: float = TIMEOUT_S,
            memory_mb: int = MEMORY_MB) -> Outcome:
    """Read one mutant in a forked process under the bounds."""
    folder = workdir / f"{reader}-{index}"
    folder.mkdir(parents=True, exist_ok=True)
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(reader, str(folder), data, memory_mb, send))
    started = time.perf_counter()
    process.start()
    send.close()
    try:
        if receive.poll(timeout_s):
            status, payload = receive.recv()
        else:
            status, payload = "timeout", f"still reading after {timeout_s:g} s"
    except EOFError:
        status, payload = "died", ""
    seconds = time.perf_counter() - started
    if process.is_alive():
        process.kill()
    process.join()
    receive.close()
    if status == "died":
        payload = f"exit code {process.exitcode}"
    shutil.rmtree(folder, ignore_errors=True)
    if status == "ok":
        return Outcome(reader, index, status, counts=payload, seconds=seconds)
    return Outcome(reader, index, status, detail=payload, seconds=seconds)


def fuzz(readers: Iterable[str], seed: int, count: int, workdir: Path,
         timeout_s: float = TIMEOUT_S, memory_mb: int = MEMORY_MB) -> list[Outcome]:
    """`count` mutants of each reader, each read under the bounds; every outcome."""
    # Imported once here, not in every forked process.
    import connectors.takeout.ics
    import connectors.takeout.maildir
    import connectors.takeout.mbox
    import connectors.takeout.paths  # noqa: F401

    outcomes = []
    for name in readers:
        for index, data in mutants(READERS[name], seed, count):
            outcomes.append(run_one(name, index, data, workdir, timeout_s, memory_mb))
    return outcomes


def failures(outcomes: Iterable[Outcome]) -> list[Outcome]:
    """The outcomes where a reader raised, ran out of memory or time, or died."""
    return [o for o in outcomes if o.status != "ok"]
