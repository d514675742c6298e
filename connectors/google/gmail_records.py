"""Gmail API message resources (format=metadata) shaped into keepwarm's records.

Header values are parsed by the same module the mbox/Maildir readers use
(connectors/headers.py), so a message read from Takeout and from the API gives
the same addresses, names and Message-IDs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from connectors.headers import (
    NO_USABLE_ADDRESS,
    first_message_id,
    header_text,
    lowered_text,
    message_ids,
    parse_addresses,
)
from connectors.records import MessageRecord, QuarantineRecord

SOURCE = "gmail"


class UnusableMessageError(ValueError):
    """A message resource that cannot become a record (no id, no internalDate)."""


def headers_by_name(message: dict[str, Any]) -> dict[str, list[str]]:
    """Header values keyed by lower-cased name, in message order (names can repeat)."""
    out: dict[str, list[str]] = {}
    for header in (message.get("payload") or {}).get("headers") or []:
        name = (header.get("name") or "").lower()
        if name:
            out.setdefault(name, []).append(header.get("value") or "")
    return out


def message_record(
    account: str, message: dict[str, Any], *, include_subject: bool = False
) -> MessageRecord:
    """One `users.messages` resource as a MessageRecord.

    Raises:
        UnusableMessageError: the resource lacks an id or a valid internalDate, or
            names no usable address (as the mbox and Maildir readers decide).
    """
    message_id = message.get("id")
    if not message_id:
        raise UnusableMessageError("message resource without an id")
    try:
        millis = int(message["internalDate"])
        sent_at = datetime.fromtimestamp(millis / 1000, tz=UTC)
    except (KeyError, TypeError, ValueError, OverflowError, OSError) as exc:
        raise UnusableMessageError(
            f"internalDate missing or out of range: {message.get('internalDate')!r}"
        ) from exc

    h = headers_by_name(message)

    def raw(name: str, *, every: bool = False) -> bytes | None:
        # The API returns header values as (JSON) text; the shared header parser reads raw
        # bytes, and UTF-8 round-trips exactly. Repeated address headers are one list.
        values = h.get(name)
        if not values:
            return None
        text = ", ".join(values) if every else values[0]
        return text.encode("utf-8", "surrogateescape")

    # As the file readers do: Sender stands in for a From without an address.
    from_addrs = parse_addresses(raw("from", every=True)) or parse_addresses(
        raw("sender", every=True))
    to_addrs = parse_addresses(raw("to", every=True))
    cc_addrs = parse_addresses(raw("cc", every=True))
    bcc_addrs = parse_addresses(raw("bcc", every=True))
    if not (from_addrs or to_addrs or cc_addrs or bcc_addrs):
        raise UnusableMessageError(NO_USABLE_ADDRESS)

    return MessageRecord(
        account=account,
        source=SOURCE,
        message_key=message_id,
        sent_at=sent_at,
        date_source="internal_date",
        rfc_message_id=first_message_id(raw("message-id")),
        thread_key=message.get("threadId"),
        from_addrs=from_addrs,
        to_addrs=to_addrs,
        cc_addrs=cc_addrs,
        bcc_addrs=bcc_addrs,
        in_reply_to=first_message_id(raw("in-reply-to")),
        references=message_ids(raw("references")),
        labels=sorted(message.get("labelIds") or []),
        list_id=lowered_text(raw("list-id")),
        precedence=lowered_text(raw("precedence")),
        auto_submitted=lowered_text(raw("auto-submitted")),
        has_list_unsubscribe="list-unsubscribe" in h,
        subject=header_text(raw("subject")) if include_subject else None,
    )


def quarantine_record(account: str, message: dict[str, Any], reason: str) -> QuarantineRecord:
    """What to keep of a message that could not be read: its id and a header excerpt."""
    excerpt = "; ".join(
        f"{name}: {value}" for name, values in headers_by_name(message).items() for value in values
    )
    return QuarantineRecord(
        source=SOURCE,
        account=account,
        kind="message",
        locator=str(message.get("id") or "?"),
        reason=reason,
        excerpt=excerpt[:300] or None,
    )
