"""What a landing step has read and written, and the run's summary: counts, not display.

Each landing step (`land_mailbox` in assets/ingest.py) counts what passes from its reader
to the landing zone in a `Tally`: records read and landed, duplicates skipped, records
quarantined with their reasons, instances of recurring events outside a calendar window.
At most once a second it logs the tally at DEBUG, with the numbers attached to the log
record as structured data (`TALLY_RECORD_ATTR`), and once more at INFO when the mailbox is
done; `landed_mailboxes` sums the tallies into a `RunSummary`, which the landing asset's
metadata carries for the UI. How `keepwarm run` shows them live is pipelines/progress.py.
"""

from __future__ import annotations

import logging
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from connectors.records import Batch

# The attribute of a log record that carries a tally (Dagster hands `extra` to loggers).
TALLY_RECORD_ATTR = "keepwarm_tally"
QUARANTINE_QUERY = '.venv/bin/keepwarm sql "select locator, reason from raw.quarantine"'
WIDTH = 80
TOP_REASONS = 3


@dataclass
class Tally:
    """What one mailbox's landing has read and written so far.

    Attributes:
        mailbox: the partition key (`files:me@example.com`).
        messages, events: records landed (written to the landing zone).
        quarantined: records that could not be parsed, landed in `raw.quarantine`.
        duplicates: records skipped because another file of the run had them already.
        outside_window: instances of recurring calendar events that end before the
            expansion window (`past_days`), left out.
        files: files read (an mbox, a Maildir message, an .ics).
        unchanged: files skipped because they have not changed since the last run.
        skipped: files and folders not read, by reason (a Maildir's files outside cur/
            and new/, what a glob matched that is not mail).
        reasons: quarantine reason -> how many records it rejected.
        done, total: bytes of mbox read and to read, when the reader knows them.
        seconds: time since the landing began.
        finished: the mailbox has landed.
    """

    mailbox: str
    messages: int = 0
    events: int = 0
    quarantined: int = 0
    duplicates: int = 0
    outside_window: int = 0
    files: int = 0
    unchanged: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)
    done: int = 0
    total: int = 0
    seconds: float = 0.0
    finished: bool = False

    @property
    def landed(self) -> int:
        return self.messages + self.events

    @property
    def read(self) -> int:
        """Records the readers found: landed, quarantined or skipped as duplicates."""
        return self.landed + self.quarantined + self.duplicates

    @property
    def fraction(self) -> float | None:
        if self.finished:
            return 1.0
        return min(self.done / self.total, 1.0) if self.total else None

    def add(self, batch: Batch) -> None:
        self.messages += len(batch.messages)
        self.events += len(batch.events)
        self.quarantined += len(batch.quarantine)
        for record in batch.quarantine:
            self.reasons[record.reason] = self.reasons.get(record.reason, 0) + 1

    def absorb(self, notes: Mapping[str, Any]) -> None:
        """Take the reader's own counts from its notes (see `_read_files`)."""
        self.duplicates = notes.get("duplicates_skipped", 0)
        self.outside_window = notes.get("outside_window", 0)
        self.files = notes.get("files_read", 0)
        self.unchanged = notes.get("files_unchanged", 0)
        self.skipped = dict(notes.get("skipped") or {})
        position = notes.get("progress") or {}
        self.done, self.total = position.get("done", 0), position.get("total", 0)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Tally:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def line(self) -> str:
        """One plain line: what a log shows."""
        verb = "landed" if self.finished else "landing"
        parts = [f"{self.read:,} read", f"{self.landed:,} landed"]
        if self.quarantined:
            parts.append(f"{self.quarantined:,} quarantined")
        if self.duplicates:
            parts.append(f"{self.duplicates:,} duplicates")
        text = f"{verb} {self.mailbox}: {', '.join(parts)}"
        fraction = self.fraction
        if self.finished:
            text += f" in {self.seconds:.0f} s"
        elif fraction is not None:
            text += f" ({fraction:.0%} of {_size(self.total)})"
        return text

    def bar_line(self, width: int) -> str:
        """One line for a terminal: the mailbox, a bar, the counts."""
        counts = f"{self.read:,} read  {self.landed:,} landed"
        name_width = min(len(self.mailbox), 24)
        if self.quarantined and width - name_width - len(counts) >= 45:
            counts += f"  {self.quarantined:,} quarantined"
        # name, two spaces, [bar], a space, "100%", two spaces, counts
        bar_width = min(width - name_width - len(counts) - 11, 30)
        name = _cut(self.mailbox, name_width)
        if bar_width < 5:
            return f"{name}  {counts}"[:width]
        fraction = self.fraction
        if fraction is None:
            # No total to measure against: a marker that moves while records come in.
            spot = (self.read // 1000) % bar_width
            bar = "".join("=" if i == spot else " " for i in range(bar_width))
            percent = "    "
        else:
            filled = int(fraction * bar_width)
            bar = "#" * filled + "." * (bar_width - filled)
            percent = f"{fraction:4.0%}"
        return f"{name}  [{bar}] {percent}  {counts}"[:width]


def watch(items: Iterable[Any], tally: Tally, notes: Mapping[str, Any],
          emit: Callable[[Tally], None], *, every_s: float = 1.0) -> Iterator[Any]:
    """Pass a reader's items through, counting them into `tally`; `emit` it at most every
    `every_s` seconds, and once more when the reader is done."""
    started = last = time.monotonic()
    for item in items:
        yield item
        if isinstance(item, Batch):
            tally.add(item)
        now = time.monotonic()
        if now - last >= every_s:
            tally.absorb(notes)
            tally.seconds = now - started
            emit(tally)
            last = now
    tally.absorb(notes)
    tally.seconds = time.monotonic() - started
    tally.finished = True
    emit(tally)


def log_tally(log: logging.Logger, tally: Tally) -> None:
    """Through Dagster's log: the run's log shows the line, `keepwarm run` the numbers."""
    level = logging.INFO if tally.finished else logging.DEBUG
    log.log(level, tally.line(), extra={TALLY_RECORD_ATTR: {"tally": tally.as_json()}})


def log_summary(log: logging.Logger, summary: RunSummary) -> None:
    log.info("\n".join(summary.lines()), extra={TALLY_RECORD_ATTR: {"summary": summary.as_json()}})


# -- the run's summary ----------------------------------------------------------------


@dataclass
class RunSummary:
    """Every mailbox's tally at the end of its landing."""

    mailboxes: list[Tally]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunSummary:
        return cls([Tally.from_json(t) for t in data["mailboxes"]])

    def as_json(self) -> dict[str, Any]:
        return {"mailboxes": [t.as_json() for t in self.mailboxes]}

    def total(self, name: str) -> int:
        return sum(getattr(t, name) for t in self.mailboxes)

    def reasons(self) -> list[tuple[str, int]]:
        """Quarantine reasons, the most frequent first."""
        counts: Counter[str] = Counter()
        for tally in self.mailboxes:
            counts.update(tally.reasons)
        return sorted(counts.items(), key=lambda item: (-item[1], item[0]))

    def skipped(self) -> list[tuple[str, int]]:
        """Files and folders not read, by reason, the most frequent first."""
        counts: Counter[str] = Counter()
        for tally in self.mailboxes:
            counts.update(tally.skipped)
        return sorted(counts.items(), key=lambda item: (-item[1], item[0]))

    def skipped_text(self) -> str:
        """'4 files or folders not read: 3 "file in a Maildir outside ...", 1 "..."'."""
        skipped = self.skipped()
        total = sum(count for _, count in skipped)
        shown = ", ".join(f'{count:,} "{reason}"' for reason, count in skipped)
        what = "file or folder" if total == 1 else "files or folders"
        return f"{total:,} {what} not read: {shown}"

    def _files(self) -> str:
        """"3 files", "3 files and 2 unchanged since the last run", or ""."""
        files, unchanged = self.total("files"), self.total("unchanged")
        read = f"{files:,} {_plural(files, 'file')}" if files else ""
        if not unchanged:
            return read
        skipped = f"{unchanged:,} {_plural(unchanged, 'file')} unchanged since the last run"
        return f"{read} and {unchanged:,} unchanged since the last run" if read else skipped

    def quarantine_text(self) -> str:
        """'3 quarantined: 2 "not a message", 1 "no date"', most frequent reasons first."""
        reasons = self.reasons()
        shown = ", ".join(f'{count:,} "{reason}"' for reason, count in reasons[:TOP_REASONS])
        if len(reasons) > TOP_REASONS:
            rest = sum(count for _, count in reasons[TOP_REASONS:])
            shown += f", {rest:,} for {len(reasons) - TOP_REASONS} other reasons"
        return f"{self.total('quarantined'):,} quarantined: {shown}"

    def lines(self, width: int = WIDTH) -> list[str]:
        """The summary `keepwarm run` prints and the landing asset's metadata shows."""
        read, landed = self.total("read"), self.total("landed")
        messages, events = self.total("messages"), self.total("events")
        seconds = max((t.seconds for t in self.mailboxes), default=0.0)
        mailboxes = f"{len(self.mailboxes)} {_plural(len(self.mailboxes), 'mailbox', 'es')}"
        files = f" ({self._files()})" if self._files() else ""
        if not read:
            # Unchanged sources, or sources read and found empty.
            text = (f"Read 0 records from {mailboxes}{files}." if self.total("files")
                    else f"Nothing new from {mailboxes}{files}.")
            return textwrap.wrap(text, width, subsequent_indent="    ")
        head = f"Read {read:,} {_plural(read, 'record')} from {mailboxes} in {seconds:.0f} s{files}"
        rows = [head + ":",
                f"{landed:,} landed ({messages:,} {_plural(messages, 'message')}, "
                f"{events:,} {_plural(events, 'event')})"]
        if self.total("duplicates"):
            rows.append(f"{self.total('duplicates'):,} duplicates skipped (already read "
                        "from another file)")
        if self.total("quarantined"):
            rows.append(f"{self.quarantine_text()}; see them with {QUARANTINE_QUERY}")
        else:
            rows.append("0 quarantined")
        if self.skipped():
            rows.append(self.skipped_text())
        if self.total("outside_window"):
            rows.append(f"{self.total('outside_window'):,} instances of recurring events "
                        "left out, before the calendar window (sources.files.past_days)")
        lines = textwrap.wrap(rows[0], width, subsequent_indent="    ")
        for row in rows[1:]:
            lines.extend(textwrap.wrap(row, width, initial_indent="  ",
                                       subsequent_indent="    ", break_on_hyphens=False))
        if len(self.mailboxes) > 1:
            lines.append("  by mailbox:")
            lines.extend(f"    {_cut(t.mailbox, 32):<32} {t.read:>10,} read {t.landed:>10,} "
                         f"landed"[:width] for t in self.mailboxes)
        return lines

    def why_no_relationships(self, stored: Stored) -> tuple[str, bool]:
        """Why a run that ends with no relationship has none, and whether the input is at
        fault: the warehouse holds no message or event, only rejected records, so the
        config points at files that hold no mail or calendar (a mistake to fix, however
        often the run is repeated), rather than at empty ones (a fact)."""
        landed = self.total("landed")
        mistake = not stored.records and stored.quarantined > 0
        if not self.mailboxes:
            return "no mailbox is configured: add a source under `sources:` in the config", True
        if landed or stored.records:
            return (f"the warehouse holds {stored.records:,} messages and events, but a "
                    "relationship needs contact both ways (a message each way, or a meeting) "
                    "with someone who is not noise: check that me.addresses lists your own "
                    'addresses, and see .venv/bin/keepwarm sql "select noise_reason, '
                    'count(*) from core.interactions group by all"', False)
        files = self._files() or f"{len(self.mailboxes)} " + _plural(
            len(self.mailboxes), "mailbox", "es")
        if self.total("quarantined"):
            return (f"0 messages or events landed from {files}, {self.quarantine_text()}; "
                    f"see them with {QUARANTINE_QUERY}", mistake)
        if self.total("read") == 0 and self.total("unchanged"):
            found = (f"every record in them was quarantined ({stored.quarantined:,}); see "
                     f"them with {QUARANTINE_QUERY}" if mistake else "they hold none")
            return f"nothing new: {files}, and {found}", mistake
        return (f"0 messages or events in {files}: the mailboxes and calendars read hold "
                "none", mistake)


@dataclass(frozen=True)
class Stored:
    """What the warehouse holds after a run, all runs together."""

    relationships: int
    records: int  # messages and events
    quarantined: int

    @classmethod
    def read(cls, con) -> Stored:
        return cls(*con.execute("""
            select (select count(*) from marts.relationship_status),
                   (select count(*) from raw.messages) + (select count(*) from raw.events),
                   (select count(*) from raw.quarantine)""").fetchone())


def _plural(count: int, word: str, suffix: str = "s") -> str:
    return word if count == 1 else word + suffix


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _size(count: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:,.0f} {unit}" if unit == "bytes" else f"{count:,.1f} {unit}"
        count /= 1000
    return f"{count:,.1f} TB"
