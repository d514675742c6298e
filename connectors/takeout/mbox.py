"""Streaming mbox reader: header blocks only, bodies skipped without being parsed.

The file is read in 256 KiB chunks and never held whole, so a 40 GB Takeout export needs
the same few MiB as a 1 MB one. (Bigger chunks were slower, not faster: carrying the
unread tail into a new multi-MiB buffer measured about 2 ms per 4 MiB chunk, most likely
page faults on fresh memory.) Messages are separated the way the standard library's
`mailbox.mbox` separates them: every line that starts with `From ` begins a message
(mboxo and mboxrd escape such lines in bodies as `>From `, so both read the same; an
mboxcl file with unescaped `From ` body lines is split there, exactly as `mailbox` does).
Takeout writes CRLF line ends and `From 1537866361256992303@xxx Wed Jun 22 ... 2016`
envelopes; both are handled.

For each message only the header block is read; the body is skipped by searching for
the next `\\nFrom `. That is where the speed comes from: attachments are never decoded or
even split into lines. Two paths, giving the same records (the tests and a byte-for-byte
comparison over the corpora hold them to that):

* fast, for nearly every message (one that lies whole in the read buffer, within 64 KiB,
  without a NUL byte, after a From_ line): the next From_ line is found first (a regex
  search, which measured faster than `bytes.find` on text bodies, whose spaces defeat its
  skip table); then one findall picks the wanted headers out of the buffer itself and
  stops at the blank line (`headers.split_header_span`), with no separate search for the
  end of the headers and no copy of them; the record is built from those values.
* general, for the rest: the header block is sliced out (up to the first blank line,
  capped at 1 MiB) and the body skipped chunk by chunk (`scan_mbox`).

Memory: one 256 KiB read buffer (plus a transient copy; a header block longer than a
chunk grows it, up to the 1 MiB header cap), one batch of records (about 2 KB
each; `batch_size` bounds it), and the message keys emitted in the run, kept to
de-duplicate (`SeenMessages`: about 100 bytes per message, 30 MB for 300,000 messages;
the labels stored with each key are shared tuples, so they add next to nothing).

Content before the first `From ` line (or a whole file without one, such as a single
`.eml`) is read as one message without an envelope; whitespace-only content is ignored.

Cursor (`Cursor.value`), one per file (`stream` = absolute path):

    {"offset": byte offset after the last complete message read,
     "size": file size, "mtime_ns": modification time,
     "head_len": n, "head_sha256": hash of the first n (<= 64 KiB) bytes,
     "tail_len": m, "tail_sha256": hash of the m (<= 4 KiB) bytes before offset}

Given a cursor: unchanged size and mtime with the whole file read -> nothing is yielded
(no I/O beyond `stat`). Otherwise, if the head and the bytes before `offset` are what they
were and a `From ` line starts at `offset`, reading resumes there (an appended file, or a
run interrupted between batches); anything else means the file was rewritten and it is
read again from 0 (downstream upserts by key, so re-reading is safe).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from connectors.headers import split_header_span
from connectors.records import Batch, Cursor, MessageRecord, QuarantineRecord
from connectors.takeout.dates import FUTURE, parse_envelope_bytes
from connectors.takeout.files import (
    HEAD_BYTES,
    SourceFileError,
    cursor_value,
    describe_os_error,
    hash_range,
    stat_file,
)
from connectors.takeout.message import (
    Envelope,
    ReadStats,
    SeenMessages,
    record_from_block,
    record_from_headers,
)

SOURCE = "mbox"
CHUNK_BYTES = 256 << 10
MAX_HEADER_BYTES = 1 << 20
TAIL_BYTES = 4096

_SEPARATOR = b"\nFrom "
_SEPARATOR_RE = re.compile(re.escape(_SEPARATOR))
_REGEX_SPAN = 64 << 10
# The first of: a blank line (end of the headers) or a From_ line (next message, no body).
# A regex with a one-character literal prefix scans line starts only, which beats two
# bytes.find calls for "\n\n" and "\n\r\n" on header-sized spans.
_HEADER_END = re.compile(rb"\n(?:\r?\n|From )")
# Bytes that are word characters for a bytes regex's \b: ASCII letters, digits and "_".
_WORD = [bytes([b]).isalnum() or b == 0x5F for b in range(256)]


class RawMessage(NamedTuple):
    """One message as found in the file: where it is, its From_ line and header block."""

    offset: int
    end: int
    envelope: bytes | None
    header: bytes


_new_tuple = tuple.__new__


class _Window:
    """A sliding view over the file: `buf` holds bytes from absolute offset `base`."""

    __slots__ = ("base", "buf", "eof", "f")

    def __init__(self, f: BinaryIO, start: int) -> None:
        f.seek(start)
        self.f = f
        self.base = start
        self.buf = b""
        self.eof = False
        self.extend(0)

    def extend(self, keep_from: int) -> int:
        """Drop `buf[:keep_from]`, append the next chunk; returns the shift applied."""
        chunk = self.f.read(CHUNK_BYTES)
        if not chunk:
            self.eof = True
        self.buf = self.buf[keep_from:] + chunk
        self.base += keep_from
        return keep_from


def scan_mbox(f: BinaryIO, start: int = 0) -> Iterator[RawMessage]:
    """Split an mbox stream into messages, slicing out only their header blocks.

    Args:
        f: the file, opened in binary mode.
        start: byte offset to start from; must be 0 or the start of a From_ line.

    Yields:
        `RawMessage` per message, in file order, with absolute offsets.
    """
    w = _Window(f, start)
    pos = 0
    while True:
        raw, pos = _next_message(w, pos)
        if pos < 0:
            return
        if raw is not None:
            yield raw


def _next_message(w: _Window, pos: int) -> tuple[RawMessage | None, int]:
    """The message starting at `w.buf[pos]`, read whatever its size, and where the next
    one starts in the (possibly moved) window; (None, -1) at the end of the data, and
    (None, next) for whitespace before the first From_ line."""
    buf = w.buf
    while len(buf) - pos < 6 and not w.eof:
        pos -= w.extend(pos)
        buf = w.buf
    if pos >= len(buf):
        return None, -1
    msg_offset = w.base + pos

    # The From_ line, if any (only content before the first one lacks it).
    if buf.startswith(b"From ", pos):
        newline = buf.find(b"\n", pos)
        while newline < 0 and not w.eof:
            pos -= w.extend(pos)
            buf = w.buf
            newline = buf.find(b"\n", pos)
        if newline < 0:
            newline = len(buf)
        envelope: bytes | None = buf[pos:newline].rstrip(b"\r")
        hstart = min(newline + 1, len(buf))
        lo = hstart - 1  # the newline ending the From_ line
    else:
        envelope = None
        hstart = lo = pos

    # The header block ends at a blank line, or at the next From_ line if none comes.
    while True:
        match = _HEADER_END.search(buf, lo, hstart + MAX_HEADER_BYTES)
        if match is not None or w.eof or len(buf) - hstart >= MAX_HEADER_BYTES:
            break
        shift = w.extend(pos)
        pos -= shift
        hstart -= shift
        lo -= shift
        buf = w.buf
    following = -1
    if match is None:  # no blank line within the cap (or before EOF): cut it there
        header = buf[hstart : hstart + MAX_HEADER_BYTES]
        body_from = min(len(buf), hstart + MAX_HEADER_BYTES) - 1
    elif match.end() - match.start() == len(_SEPARATOR):  # next message, no body
        header = buf[hstart : match.start() + 1]
        following = match.start()
    else:
        header = buf[hstart : match.start() + 1]
        body_from = match.end() - 1

    # The body: skipped, chunk by chunk, looking only for the next From_ line. On
    # typical (text, a few KB) bodies sre finds it faster than bytes.find, whose
    # skip table the many spaces defeat; long bodies get bytes.find past 64 KiB.
    if following < 0:
        body_from = max(body_from, 0)
        found = _SEPARATOR_RE.search(buf, body_from, body_from + _REGEX_SPAN)
        if found is not None:
            following = found.start()
        elif len(buf) > body_from + _REGEX_SPAN:
            following = buf.find(_SEPARATOR, body_from + _REGEX_SPAN - len(_SEPARATOR) + 1)
    if following >= 0:
        end = following + 1
    else:
        while not w.eof:
            w.extend(max(len(buf) - len(_SEPARATOR) + 1, 0))
            buf = w.buf
            pos = 0
            following = buf.find(_SEPARATOR)
            if following >= 0:
                break
        end = following + 1 if following >= 0 else len(buf)

    if envelope is None and not header.strip() and not buf[pos:end].strip():
        return None, end  # whitespace before the first From_ line is not a message
    # tuple.__new__ skips the NamedTuple's Python-level __new__: same object, cheaper.
    return _new_tuple(RawMessage, (msg_offset, w.base + end, envelope, header)), end


def parse_envelope(line: bytes | None) -> Envelope | None:
    """Gmail id (hex, Takeout only) and date from a From_ line."""
    if line is None:
        return None
    gmail_id = None
    # Takeout's "From <1-20 digits>@xxx" and a word boundary, tested without a regex
    # (cheaper, and it runs once per message).
    at = line.find(b"@xxx", 6, 29)
    if at > 0 and line.startswith(b"From "):
        digits = line[5:at]
        if digits.isdigit() and (len(line) == at + 4 or not _WORD[line[at + 4]]):
            number = int(digits)
            if 0 < number < 1 << 64:
                gmail_id = format(number, "x")
    return _new_tuple(Envelope, (gmail_id, parse_envelope_bytes(line)))


def _record_with_block(
    buf: bytes,
    newline: int,
    following: int,
    headers: dict[bytes, bytes],
    account: str,
    locator: str,
    gmail_id: str | None,
    envelope_date: datetime | None,
    now: datetime,
    latest: datetime,
    include_subject: bool,
) -> MessageRecord | QuarantineRecord:
    """The fast path's record when `record_from_headers` needed the header block: the
    block the general path would slice (up to the blank line, else up to the next From_
    line, which is in the buffer), with the headers already split where that suffices."""
    match = _HEADER_END.search(buf, newline, following + len(_SEPARATOR))
    block = buf[newline + 1 : match.start() + 1]  # type: ignore[union-attr]
    record = None
    if headers:  # else the block has no wanted header: record_from_block says why
        record = record_from_headers(
            headers,
            block,
            account,
            SOURCE,
            locator,
            gmail_id,
            envelope_date,
            now,
            latest,
            include_subject,
            (),
            include_subject,
        )
    if record is None:
        record = record_from_block(
            block, account, SOURCE, locator, gmail_id, envelope_date, now, latest, include_subject
        )
    return record


def _identity(path: Path, st: os.stat_result, offset: int) -> dict[str, Any]:
    head_len = min(HEAD_BYTES, st.st_size)
    tail_len = min(TAIL_BYTES, offset)
    return {
        "offset": offset,
        "size": max(st.st_size, offset),
        "mtime_ns": st.st_mtime_ns,
        "head_len": head_len,
        "head_sha256": hash_range(path, 0, head_len),
        "tail_len": tail_len,
        "tail_sha256": hash_range(path, offset - tail_len, tail_len),
    }


def resume_offset(path: Path, st: os.stat_result, value: Mapping[str, Any] | None) -> int | None:
    """Where to start reading given a stored cursor value; None means nothing changed."""
    if not value:
        return 0
    try:
        offset = int(value["offset"])
        size = int(value["size"])
        mtime_ns = int(value["mtime_ns"])
        head_len = int(value["head_len"])
        head_sha = str(value["head_sha256"])
        tail_len = int(value["tail_len"])
        tail_sha = str(value["tail_sha256"])
    except (KeyError, TypeError, ValueError):
        return 0
    if offset == size == st.st_size and mtime_ns == st.st_mtime_ns:
        return None
    if not 0 <= offset <= st.st_size or head_len > st.st_size or tail_len > offset:
        return 0
    if hash_range(path, 0, head_len) != head_sha:
        return 0
    if hash_range(path, offset - tail_len, tail_len) != tail_sha:
        return 0
    if offset < st.st_size:
        with path.open("rb") as f:
            f.seek(offset)
            # A writer that appends to a file not ending in a blank line puts the
            # separating newline first: "\nFrom " still starts a message.
            if not f.read(9).lstrip(b"\r\n").startswith(b"From "):
                return 0
    return offset


def read_mbox(
    path: str | os.PathLike[str],
    account: str,
    *,
    cursor: Cursor | Mapping[str, Any] | None = None,
    include_subject: bool = False,
    batch_size: int = 5000,
    stats: ReadStats | None = None,
    seen: SeenMessages | None = None,
    now: datetime | None = None,
) -> Iterator[Batch]:
    """Read message metadata from an mbox file (Google Takeout, mboxo, mboxrd).

    Args:
        path: the .mbox file. A single message without a From_ line (.eml) also reads.
        account: the mailbox owner's address; stamped on every record.
        cursor: the `Cursor` (or its `value`) from the last batch of a previous run.
        include_subject: keep decoded subjects (only when the user opted in).
        batch_size: records (messages + quarantined) per batch.
        stats: optional counters to add to.
        seen: message keys already emitted in this run, with their labels; shared to
            de-duplicate across files. A key seen before is skipped (counted in
            `stats.duplicates`) unless the copy adds labels: see `SeenMessages`.
        now: the current time for the date sanity rule; defaults to the clock.

    Yields:
        `Batch` objects with `messages`, `quarantine` and a `Cursor(account, "mbox",
        stream=<absolute path>, value=...)` positioned after the batch's last message.
        Nothing at all when the cursor shows the file is unchanged.

    Raises:
        SourceFileError: the file is missing or unreadable.
    """
    file_path = Path(path).expanduser().resolve()
    st = stat_file(file_path)
    stats = stats if stats is not None else ReadStats()
    seen = seen if seen is not None else SeenMessages()
    now = now or datetime.now(UTC)
    try:
        start = resume_offset(file_path, st, cursor_value(cursor))
    except OSError as error:
        raise SourceFileError(file_path, describe_os_error(error)) from error
    if start is None:
        stats.skipped_unchanged += 1
        return
    stream = str(file_path)
    prefix = stream + ":"
    messages: list[MessageRecord] = []
    quarantine: list[QuarantineRecord] = []
    last_end = start
    stats.files += 1

    def batch() -> Batch:
        value = _identity(file_path, st, last_end)
        return Batch(
            messages=messages,
            quarantine=quarantine,
            cursor=Cursor(account, SOURCE, stream, value),
        )

    try:
        f = file_path.open("rb")
    except OSError as error:
        raise SourceFileError(file_path, describe_os_error(error)) from error
    latest = now + FUTURE
    # Locals for what the loop calls per message: cheaper than global lookups.
    find_separator = _SEPARATOR_RE.search
    from_headers = record_from_headers
    split_span = split_header_span
    envelope_of = parse_envelope
    seen_get = seen.get
    label_sets = seen.label_sets
    with f:
        w = _Window(f, start)
        pos = 0
        pending = 0  # len(messages) + len(quarantine)
        while True:
            # Fast path, for nearly every message: it lies whole in the read buffer, so the
            # next From_ line is found first and the wanted headers are picked from the
            # buffer up to the blank line in one findall, without slicing the block out.
            # Anything unusual (no envelope, a message crossing the buffer's end or longer
            # than 64 KiB, a NUL byte) takes the general path.
            buf = w.buf
            record = None
            newline = buf.find(b"\n", pos) if buf.startswith(b"From ", pos) else -1
            if newline >= 0:
                found = find_separator(buf, newline, newline + _REGEX_SPAN)
                if found is not None:
                    following = found.start()
                    if buf.find(b"\x00", newline, following) < 0:
                        gmail_id, envelope_date = envelope_of(  # type: ignore[misc]
                            buf[pos:newline].rstrip(b"\r")
                        )
                        try:
                            headers = split_span(buf, newline, following, include_subject)
                            record = from_headers(
                                headers,
                                None,
                                account,
                                SOURCE,
                                "",  # only a rejection names the place, and this path has none
                                gmail_id,
                                envelope_date,
                                now,
                                latest,
                                include_subject,
                                (),
                                include_subject,
                            )
                            if record is None:  # it needs the block after all (rare)
                                record = _record_with_block(
                                    buf,
                                    newline,
                                    following,
                                    headers,
                                    account,
                                    prefix + str(w.base + pos),
                                    gmail_id,
                                    envelope_date,
                                    now,
                                    latest,
                                    include_subject,
                                )
                        except Exception:  # one bad message must not stop the run: quarantine it
                            record = record_from_block(
                                buf[newline + 1 : following],
                                account,
                                SOURCE,
                                prefix + str(w.base + pos),
                                gmail_id,
                                envelope_date,
                                now,
                                latest,
                                include_subject,
                            )
                        pos = following + 1
                        end = w.base + pos
            if record is None:
                raw, pos = _next_message(w, pos)
                if pos < 0:
                    break
                if raw is None:
                    continue
                offset, end, envelope_line, header = raw
                if envelope_line is None:
                    gmail_id = envelope_date = None
                else:
                    gmail_id, envelope_date = parse_envelope(envelope_line)  # type: ignore[misc]
                record = record_from_block(
                    header,
                    account,
                    SOURCE,
                    prefix + str(offset),
                    gmail_id,
                    envelope_date,
                    now,
                    latest,
                    include_subject,
                )
            if type(record) is MessageRecord:
                # `seen.admit(record, stats)`, with its usual case inlined.
                key = record.message_key
                emitted = seen_get(key)
                if emitted is None:
                    labels = tuple(record.labels)
                    seen[key] = label_sets.setdefault(labels, labels) if labels else labels
                    messages.append(record)
                    pending += 1
                elif seen.relabel(record, emitted):
                    stats.relabelled += 1
                    messages.append(record)
                    pending += 1
                else:
                    stats.duplicates += 1
            else:
                quarantine.append(record)  # type: ignore[arg-type]
                pending += 1
            last_end = end
            if pending >= batch_size:
                stats.messages += len(messages)
                stats.quarantined += len(quarantine)
                yield batch()
                messages, quarantine = [], []
                pending = 0
        stats.bytes += max(last_end - start, 0)
    stats.messages += len(messages)
    stats.quarantined += len(quarantine)
    yield batch()
