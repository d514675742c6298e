"""One message's header block -> a `MessageRecord`, or a `QuarantineRecord` saying why not.

What counts as malformed (quarantined, never dropped):

* an empty message (a `From ` line with nothing after it);
* a header block holding NUL bytes, or with no `Name: value` line at all: binary data
  or a non-mail file, not a message with odd headers;
* no address at all in From, Sender, To, Cc or Bcc: nobody to attribute it to;
* no sane date by the rule in `dates.py`.

Everything else is kept, however odd: undecodable bytes become U+FFFD or Latin-1, an
unparseable Message-ID falls back to the header hash, a bad In-Reply-To is ignored, a
From without a To is fine (Bcc-only and list mail look like that).

Keys:

* `message_key`: the Gmail message id when known (Takeout's envelope `From <id>@xxx`
  carries X-GM-MSGID; written in hex it is the Gmail API's message `id`, so Takeout and
  API rows agree), else the RFC Message-ID without brackets, else "h:" + the first 32 hex
  digits of a SHA-256 over the raw From, To, Cc, Date and Subject values (unfolded).
* `thread_key`: X-GM-THRID in hex (the Gmail API's `threadId`), else the first id in
  References (the thread root), else In-Reply-To, else the message's own Message-ID,
  else its `message_key`: a message always belongs to some thread.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import NamedTuple

from connectors.headers import (
    NO_USABLE_ADDRESS,
    bytes_to_text,
    cached_addresses,
    first_message_id,
    gmail_hex_id,
    has_header_lines,
    header_text,
    lowered_text,
    message_ids,
    parse_labels,
    received_header,
    split_header_block,
)
from connectors.records import MessageRecord, QuarantineRecord
from connectors.takeout.dates import FLOOR, FUTURE, SKEW, choose_sent_at, parse_date_bytes

EXCERPT_CHARS = 300


@dataclass
class ReadStats:
    """Counts a reader adds to as it goes, for logging and run metadata.

    Attributes:
        files: files (mbox, Maildir message, .ics) opened.
        bytes: bytes of mail/calendar data scanned (mbox: from the start offset to EOF).
        messages: message records emitted.
        events: event records emitted.
        quarantined: quarantine records emitted.
        duplicates: messages/events skipped because their key was already emitted.
        relabelled: messages whose key was already emitted but which carried labels
            it had not been emitted with: emitted again with the union (see
            `SeenMessages`; also counted in `messages`).
        skipped_unchanged: files or folders skipped by the cursor's cheap check.
        outside_window: instances of recurring calendar series that end before the
            expansion window, left out (.ics only).
        skipped: files and folders not read, by reason (a Maildir's files outside cur/
            and new/; what a glob matched that is not mail).
    """

    files: int = 0
    bytes: int = 0
    messages: int = 0
    events: int = 0
    quarantined: int = 0
    duplicates: int = 0
    relabelled: int = 0
    skipped_unchanged: int = 0
    outside_window: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str, count: int = 1) -> None:
        """Count `count` files or folders not read, for `reason`."""
        if count:
            self.skipped[reason] = self.skipped.get(reason, 0) + count


class SeenMessages(dict[str, tuple[str, ...]]):
    """The message keys a run has emitted, each with the labels it was emitted with.

    The readers of one run share it (`read_mail_paths`) to de-duplicate across files. A
    message found again is skipped, unless it carries labels not yet emitted for it: the
    same message in an "INBOX" and a "Work" Maildir folder, or in two Takeout exports
    made at different times. Then it is emitted again, with the union of the labels:
    those emitted before, in their order, then the new ones. The warehouse replaces a
    row by key (the last record of a batch wins), so the message ends up with all its
    labels. The other fields of that record are the later copy's: copies of one message
    agree on them, except `source` when an mbox and a Maildir both hold it.

    Equal label tuples are stored once (`label_sets`), so a mailbox with a few hundred
    label combinations costs little more than its keys.
    """

    __slots__ = ("label_sets",)

    def __init__(self) -> None:
        super().__init__()
        self.label_sets: dict[tuple[str, ...], tuple[str, ...]] = {}

    def first(self, record: MessageRecord) -> None:
        """Remember a record emitted for a key not seen before."""
        labels = tuple(record.labels)
        self[record.message_key] = self.label_sets.setdefault(labels, labels)

    def relabel(self, record: MessageRecord, emitted: tuple[str, ...]) -> bool:
        """For a record whose key was emitted with `emitted` labels: whether it adds any.

        If so, its `labels` become the union and are remembered; the caller emits it.
        """
        new = [label for label in record.labels if label not in emitted]
        if not new:
            return False
        record.labels = [*emitted, *new]
        self.first(record)
        return True

    def admit(self, record: MessageRecord, stats: ReadStats) -> bool:
        """Whether to emit `record`, counting a duplicate or a relabelling in `stats`."""
        emitted = self.get(record.message_key)
        if emitted is None:
            self.first(record)
            return True
        if self.relabel(record, emitted):
            stats.relabelled += 1
            return True
        stats.duplicates += 1
        return False


class Envelope(NamedTuple):
    """What an mbox `From ` line says: Gmail's message id (Takeout only) and a date."""

    gmail_id: str | None
    date: datetime | None


def excerpt(block: bytes, include_subject: bool) -> str:
    """The start of a header block, printable, with the Subject hidden unless opted in."""
    text = bytes_to_text(block[: EXCERPT_CHARS * 4])
    if not include_subject:
        lines = []
        for line in text.splitlines():
            if line[:8].lower() == "subject:":
                line = "Subject: [omitted]"
            lines.append(line)
        text = "\n".join(lines)
    cleaned = "".join(c if c.isprintable() or c in "\n\t" else "?" for c in text)
    return cleaned[:EXCERPT_CHARS]


def _normalised(raw: bytes | None) -> bytes:
    return b" ".join(raw.split()) if raw else b""


def _hash_key(headers: dict[bytes, bytes]) -> str:
    digest = hashlib.sha256()
    for name in (b"from", b"to", b"cc", b"date", b"subject"):
        digest.update(_normalised(headers.get(name)))
        digest.update(b"\x00")
    return "h:" + digest.hexdigest()[:32]


def build_record(
    block: bytes,
    *,
    account: str,
    source: str,
    locator: str,
    envelope: Envelope | None,
    now: datetime,
    include_subject: bool = False,
    extra_labels: tuple[str, ...] = (),
) -> MessageRecord | QuarantineRecord:
    """Turn one header block into a record.

    Args:
        block: the raw header block (no envelope line, no blank line, no body).
        account: the mailbox owner's address.
        source: "mbox" or "maildir".
        locator: where the message is ("path:byte_offset"), for quarantine records.
        envelope: the mbox envelope, or None (Maildir, or an mbox part without one).
        now: the current time, aware UTC (dates after now + 1 day are not sane).
        include_subject: keep the decoded Subject (only if the user opted in).
        extra_labels: labels implied by where the message was found (Maildir folders).

    Returns:
        A `MessageRecord`, or a `QuarantineRecord` with the reason it was rejected.
    """
    if envelope is None:
        gmail_id = envelope_date = None
    else:
        gmail_id, envelope_date = envelope
    return record_from_block(
        block,
        account,
        source,
        locator,
        gmail_id,
        envelope_date,
        now,
        now + FUTURE,
        include_subject,
        extra_labels,
    )


# `record_from_headers` passes MessageRecord's fields by position (19 keywords measured
# about 0.5 us more per record); this stops the import if the field order ever changes.
_FIELD_ORDER = (
    "account", "source", "message_key", "sent_at", "date_source", "rfc_message_id",
    "thread_key", "from_addrs", "to_addrs", "cc_addrs", "bcc_addrs", "in_reply_to",
    "references", "labels", "list_id", "precedence", "auto_submitted",
    "has_list_unsubscribe", "subject",
)  # fmt: skip
if tuple(f.name for f in fields(MessageRecord)) != _FIELD_ORDER:
    raise ImportError("MessageRecord's fields changed: update record_from_headers")


def record_from_block(
    block: bytes,
    account: str,
    source: str,
    locator: str,
    gmail_id: str | None,
    envelope_date: datetime | None,
    now: datetime,
    latest: datetime,
    include_subject: bool,
    extra_labels: tuple[str, ...] = (),
) -> MessageRecord | QuarantineRecord:
    """`build_record` with positional arguments, for the readers' per-message loops.

    `gmail_id` and `envelope_date` are the envelope's two fields (None without one);
    `latest` is `now` plus the one day of clock skew `dates.choose_sent_at` allows,
    computed once per run by the caller.
    """
    if not block or block.isspace():
        reason = "empty message: no header lines before the first blank line"
        return _reject(block, reason, source, account, locator, include_subject)
    if b"\x00" in block:
        reason = "header block contains NUL bytes: binary data, not a message"
        return _reject(block, reason, source, account, locator, include_subject)
    try:
        return record_from_headers(  # type: ignore[return-value]
            split_header_block(block),
            block,
            account,
            source,
            locator,
            gmail_id,
            envelope_date,
            now,
            latest,
            include_subject,
            extra_labels,
        )
    except Exception as error:  # one unreadable message must not stop the run
        reason = f"cannot read the header block ({type(error).__name__}): {error}"[:300]
        return _reject(block, reason, source, account, locator, include_subject)


def record_from_headers(
    headers: dict[bytes, bytes],
    block: bytes | None,
    account: str,
    source: str,
    locator: str,
    gmail_id: str | None,
    envelope_date: datetime | None,
    now: datetime,
    latest: datetime,
    include_subject: bool,
    extra_labels: tuple[str, ...] = (),
    all_headers: bool = True,
) -> MessageRecord | QuarantineRecord | None:
    """The rest of `record_from_block`, from the block's `split_header_block` dict.

    `block` may be None when the caller has not copied the header block out (the mbox
    reader's fast path, which has already ruled out empty blocks and NUL bytes). The
    block is only needed by the rare paths: a rejection (its excerpt) or a message whose
    date must come from its Received header. Those return None, and the caller tries
    again with the block. `locator` is only used by a rejection, so it may be "" then.
    `all_headers` False says `headers` lacks Subject (the mbox reader leaves it out when
    subjects are not kept); a message without any id, whose key hashes the Subject, then
    returns None too, for the caller to split the block again.
    """
    get = headers.get

    # `parse_addresses` inlined (it is `list(cached_addresses(raw)) if raw else []`):
    # this runs once per message and the calls add up.
    raw = get(b"from")
    from_addrs = list(cached_addresses(raw)) if raw else []
    if not from_addrs:
        raw = get(b"sender")
        from_addrs = list(cached_addresses(raw)) if raw else []
    raw = get(b"to")
    to_addrs = list(cached_addresses(raw)) if raw else []
    raw = get(b"cc")
    cc_addrs = list(cached_addresses(raw)) if raw else []
    raw = get(b"bcc")
    bcc_addrs = list(cached_addresses(raw)) if raw else []
    if not (from_addrs or to_addrs or cc_addrs or bcc_addrs):
        if block is None:
            return None
        if has_header_lines(block):
            reason = NO_USABLE_ADDRESS
        else:
            reason = "no 'Name: value' header lines: not an RFC 5322 message"
        return _reject(block, reason, source, account, locator, include_subject)

    raw_date = get(b"date")
    # The usual case of `choose_sent_at`, inlined: a sane envelope date bounds the Date
    # header. Without a usable envelope the full rule decides.
    if envelope_date is not None and FLOOR <= envelope_date <= latest:
        sent_at = parse_date_bytes(raw_date) if raw_date is not None else None
        if sent_at is not None and FLOOR <= sent_at <= envelope_date + SKEW:
            date_source = "date_header"
        else:
            sent_at, date_source = envelope_date, "envelope"
    elif block is None:
        return None
    else:
        sent_at, date_source = choose_sent_at(
            bytes_to_text(raw_date) if raw_date is not None else None,
            envelope_date,
            lambda: _received_text(block),
            now,
        )
        if sent_at is None:
            return _reject(block, date_source, source, account, locator, include_subject)

    rfc_message_id = first_message_id(get(b"message-id"))
    raw = get(b"references")
    references = message_ids(raw) if raw else []
    raw = get(b"in-reply-to")
    in_reply_to = first_message_id(raw) if raw else None
    message_key = gmail_id or rfc_message_id
    if message_key is None:
        if not all_headers:
            return None
        message_key = _hash_key(headers)
    raw = get(b"x-gm-thrid")
    thread_key = (
        (gmail_hex_id(raw) if raw else None)
        or (references[0] if references else None)
        or in_reply_to
        or rfc_message_id
        or message_key
    )
    raw = get(b"x-gmail-labels")
    labels = parse_labels(raw) if raw else []
    if extra_labels:
        for label in extra_labels:
            if label not in labels:
                labels.append(label)
    raw = get(b"list-id")
    list_id = lowered_text(raw) if raw is not None else None
    raw = get(b"precedence")
    precedence = lowered_text(raw) if raw is not None else None
    raw = get(b"auto-submitted")
    auto_submitted = lowered_text(raw) if raw is not None else None

    return MessageRecord(
        account,
        source,
        message_key,
        sent_at,
        date_source,
        rfc_message_id,
        thread_key,
        from_addrs,
        to_addrs,
        cc_addrs,
        bcc_addrs,
        in_reply_to,
        references,
        labels,
        list_id,
        precedence,
        auto_submitted,
        b"list-unsubscribe" in headers,
        header_text(get(b"subject")) if include_subject else None,
    )


def _received_text(block: bytes) -> str | None:
    raw = received_header(block)
    return bytes_to_text(raw) if raw is not None else None


def _reject(
    block: bytes, reason: str, source: str, account: str, locator: str, include_subject: bool
) -> QuarantineRecord:
    return QuarantineRecord(
        source=source,
        account=account,
        kind="message",
        locator=locator,
        reason=reason,
        excerpt=excerpt(block, include_subject) or None,
    )
