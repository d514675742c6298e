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
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from connectors.headers import (
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
from connectors.takeout.dates import choose_sent_at

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
        skipped_unchanged: files or folders skipped by the cursor's cheap check.
    """

    files: int = 0
    bytes: int = 0
    messages: int = 0
    events: int = 0
    quarantined: int = 0
    duplicates: int = 0
    skipped_unchanged: int = 0


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

    if not block or block.isspace():
        reason = "empty message: no header lines before the first blank line"
        return _reject(block, reason, source, account, locator, include_subject)
    if b"\x00" in block:
        reason = "header block contains NUL bytes: binary data, not a message"
        return _reject(block, reason, source, account, locator, include_subject)
    headers = split_header_block(block)
    get = headers.get

    # `parse_addresses` inlined (it is `list(cached_addresses(raw)) if raw else []`):
    # build_record runs once per message and the calls add up.
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
        if has_header_lines(block):
            reason = "no usable address: From, Sender, To, Cc and Bcc are all missing or empty"
        else:
            reason = "no 'Name: value' header lines: not an RFC 5322 message"
        return _reject(block, reason, source, account, locator, include_subject)

    raw_date = get(b"date")
    sent_at, date_source = choose_sent_at(
        bytes_to_text(raw_date) if raw_date is not None else None,
        envelope.date if envelope is not None else None,
        lambda: _received_text(block),
        now,
    )
    if sent_at is None:
        return _reject(block, date_source, source, account, locator, include_subject)

    rfc_message_id = first_message_id(get(b"message-id"))
    raw_references = get(b"references")
    references = message_ids(raw_references) if raw_references else []
    raw_in_reply_to = get(b"in-reply-to")
    in_reply_to = first_message_id(raw_in_reply_to) if raw_in_reply_to else None
    message_key = (envelope.gmail_id if envelope is not None else None) or rfc_message_id
    if message_key is None:
        message_key = _hash_key(headers)
    raw_thread = get(b"x-gm-thrid")
    thread_key = (
        (gmail_hex_id(raw_thread) if raw_thread else None)
        or (references[0] if references else None)
        or in_reply_to
        or rfc_message_id
        or message_key
    )
    raw_labels = get(b"x-gmail-labels")
    labels = parse_labels(raw_labels) if raw_labels else []
    for label in extra_labels:
        if label not in labels:
            labels.append(label)

    return MessageRecord(
        account=account,
        source=source,
        message_key=message_key,
        sent_at=sent_at,
        date_source=date_source,
        rfc_message_id=rfc_message_id,
        thread_key=thread_key,
        from_addrs=from_addrs,
        to_addrs=to_addrs,
        cc_addrs=cc_addrs,
        bcc_addrs=bcc_addrs,
        in_reply_to=in_reply_to,
        references=references,
        labels=labels,
        list_id=lowered_text(get(b"list-id")),
        precedence=lowered_text(get(b"precedence")),
        auto_submitted=lowered_text(get(b"auto-submitted")),
        has_list_unsubscribe=b"list-unsubscribe" in headers,
        subject=header_text(get(b"subject")) if include_subject else None,
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
