"""The normalised records every connector emits, and the batches that carry them.

This module is the contract between sources and the warehouse: the demo simulator, the
Takeout/Maildir/.ics readers and the Google API connectors all yield `Batch` objects
built from these records, and the warehouse loads every batch the same way. Nothing here
knows about Dagster or DuckDB; `*_frame` turns records into polars frames with a fixed
schema so that an empty batch and a full one load identically.

Privacy: records carry metadata only. There is no field for a message body, and
`subject` / `summary` stay None unless the user opted in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl
import pyarrow as pa

# Google Calendar's vocabulary for attendee responses; .ics PARTSTAT values map onto it.
RESPONSE_STATUSES = ("needsAction", "declined", "tentative", "accepted")
EVENT_STATUSES = ("confirmed", "tentative", "cancelled")


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox from an address header: `address` lower-cased, `name` decoded or None."""

    address: str
    name: str | None = None


@dataclass(slots=True)
class MessageRecord:
    """One email's metadata, as faithful to the source as the model needs.

    Attributes:
        account: the mailbox this was read from (the user's address for that account).
        source: "demo", "mbox", "maildir" or "gmail".
        message_key: natural key within the account: Gmail id, else RFC Message-ID,
            else a hash of stable headers. Re-reading the same message gives the same key.
        rfc_message_id: the Message-ID header without angle brackets, or None.
        thread_key: Gmail threadId / X-GM-THRID, else the root of References, else None.
        sent_at: when it was sent, timezone-aware UTC.
        date_source: where `sent_at` came from: "internal_date" (Gmail), "date_header",
            "envelope" (mbox From_ line), "received" (Received header) or "simulated".
        from_addrs, to_addrs, cc_addrs, bcc_addrs: parsed address lists.
        in_reply_to: first Message-ID in In-Reply-To, without angle brackets.
        references: Message-IDs in References, oldest first, without angle brackets.
        labels: Gmail labels / X-Gmail-Labels ("SENT" marks outbound mail).
        list_id, precedence, auto_submitted: bulk-mail headers, raw values lower-cased.
        has_list_unsubscribe: whether a List-Unsubscribe header was present.
        subject: only when the user opted in; None otherwise.
    """

    account: str
    source: str
    message_key: str
    sent_at: datetime
    date_source: str
    rfc_message_id: str | None = None
    thread_key: str | None = None
    from_addrs: list[Address] = field(default_factory=list)
    to_addrs: list[Address] = field(default_factory=list)
    cc_addrs: list[Address] = field(default_factory=list)
    bcc_addrs: list[Address] = field(default_factory=list)
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    list_id: str | None = None
    precedence: str | None = None
    auto_submitted: str | None = None
    has_list_unsubscribe: bool = False
    subject: str | None = None


@dataclass(frozen=True, slots=True)
class Attendee:
    """One invitee of a calendar event, in Google Calendar's terms."""

    address: str
    name: str | None = None
    response_status: str = "needsAction"
    is_self: bool = False
    is_organizer: bool = False
    optional: bool = False
    is_resource: bool = False


@dataclass(slots=True)
class EventRecord:
    """One calendar event instance (recurring events arrive expanded into instances).

    Attributes:
        account: the calendar owner's address.
        source: "demo", "ics" or "gcal".
        calendar_id: the calendar it came from ("primary", a calendar id, or a file name).
        event_key: natural key within account+calendar; for instances of a recurring
            event it includes the instance's original start.
        ical_uid: iCalendar UID shared by all instances of a series.
        recurring_event_id: id of the series this instance belongs to, or None.
        status: "confirmed", "tentative" or "cancelled".
        start_at, end_at: timezone-aware UTC; for all-day events midnight UTC of the dates.
        all_day: whether the event has dates, not times.
        organizer: organizer's address, lower-cased, or None.
        attendees: invitees with their responses.
        attendees_omitted: the source left some attendees out (Google's attendeesOmitted).
        has_conference: a video link is attached (conferenceData, hangoutLink, a URL).
        has_location: a physical location is given.
        event_type: Google's eventType: "default", "focusTime", "outOfOffice",
            "workingLocation", "birthday", "fromGmail".
        summary: only when the user opted in; None otherwise.
        birthday_contact: for a birthday event made from a contact, the contact's People
            API resource name (Google's birthdayProperties.contact), else None.
    """

    account: str
    source: str
    calendar_id: str
    event_key: str
    start_at: datetime
    end_at: datetime
    ical_uid: str | None = None
    recurring_event_id: str | None = None
    status: str = "confirmed"
    all_day: bool = False
    organizer: str | None = None
    attendees: list[Attendee] = field(default_factory=list)
    attendees_omitted: bool = False
    has_conference: bool = False
    has_location: bool = False
    event_type: str = "default"
    summary: str | None = None
    birthday_contact: str | None = None


@dataclass(frozen=True, slots=True)
class QuarantineRecord:
    """Something a connector could not turn into a record, kept so nothing is lost silently.

    Attributes:
        source: the connector ("mbox", "ics", "gmail", ...).
        account: the account it was read for.
        kind: "message" or "event".
        locator: where to find it again: "path:byte_offset", a Gmail id, an event UID.
        reason: why it was rejected, in words a user can act on.
        excerpt: at most a few hundred characters of the header block, never a body.
    """

    source: str
    account: str
    kind: str
    locator: str
    reason: str
    excerpt: str | None = None


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a source stream stopped, stored with the data it covers.

    `stream` names one resumable sequence within an account and source (an mbox path,
    "history" for Gmail, a calendar id); `value` is the connector's own JSON-able state.
    """

    account: str
    source: str
    stream: str
    value: dict[str, Any]


@dataclass(slots=True)
class Batch:
    """A unit of work the warehouse applies atomically: all of it and its cursor, or none.

    Attributes:
        messages, events: records to upsert by (account, message_key) /
            (account, calendar_id, event_key).
        quarantine: rejected inputs, recorded once per (source, account, locator).
        deleted_message_keys / deleted_event_keys: keys the source says are gone.
        replace_account_source: (account, source) whose rows are removed before this batch
            is applied; used by snapshot sources (the demo) and by full resyncs.
        cursor: the position after this batch; saved in the same transaction.
    """

    messages: list[MessageRecord] = field(default_factory=list)
    events: list[EventRecord] = field(default_factory=list)
    quarantine: list[QuarantineRecord] = field(default_factory=list)
    deleted_message_keys: list[tuple[str, str]] = field(default_factory=list)
    deleted_event_keys: list[tuple[str, str, str]] = field(default_factory=list)
    replace_account_source: tuple[str, str] | None = None
    cursor: Cursor | None = None


_ADDRESS = pl.Struct({"address": pl.String, "name": pl.String})
_ADDRESSES = pl.List(_ADDRESS)
_UTC = pl.Datetime("us", "UTC")

MESSAGE_SCHEMA: dict[str, pl.DataType] = {
    "account": pl.String,
    "source": pl.String,
    "message_key": pl.String,
    "rfc_message_id": pl.String,
    "thread_key": pl.String,
    "sent_at": _UTC,
    "date_source": pl.String,
    "from_addrs": _ADDRESSES,
    "to_addrs": _ADDRESSES,
    "cc_addrs": _ADDRESSES,
    "bcc_addrs": _ADDRESSES,
    "in_reply_to": pl.String,
    "references": pl.List(pl.String),
    "labels": pl.List(pl.String),
    "list_id": pl.String,
    "precedence": pl.String,
    "auto_submitted": pl.String,
    "has_list_unsubscribe": pl.Boolean,
    "subject": pl.String,
}

_ATTENDEE = pl.Struct(
    {
        "address": pl.String,
        "name": pl.String,
        "response_status": pl.String,
        "is_self": pl.Boolean,
        "is_organizer": pl.Boolean,
        "optional": pl.Boolean,
        "is_resource": pl.Boolean,
    }
)

EVENT_SCHEMA: dict[str, pl.DataType] = {
    "account": pl.String,
    "source": pl.String,
    "calendar_id": pl.String,
    "event_key": pl.String,
    "ical_uid": pl.String,
    "recurring_event_id": pl.String,
    "status": pl.String,
    "start_at": _UTC,
    "end_at": _UTC,
    "all_day": pl.Boolean,
    "organizer": pl.String,
    "attendees": pl.List(_ATTENDEE),
    "attendees_omitted": pl.Boolean,
    "has_conference": pl.Boolean,
    "has_location": pl.Boolean,
    "event_type": pl.String,
    "summary": pl.String,
    "birthday_contact": pl.String,
}

QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String,
    "account": pl.String,
    "kind": pl.String,
    "locator": pl.String,
    "reason": pl.String,
    "excerpt": pl.String,
}


_ADDRESS_FIELDS = [pa.field("address", pa.string()), pa.field("name", pa.string())]
_SCALAR_MESSAGE_COLUMNS = ("account", "source", "message_key", "rfc_message_id", "thread_key",
                           "date_source", "in_reply_to", "list_id", "precedence",
                           "auto_submitted", "subject")


def _address_lists(lists: list[list[Address]]) -> pa.Array:
    """A list<struct<address, name>> column built from flat children and offsets.

    Handing pyarrow one flat list per child is far cheaper than a dict per address.
    """
    offsets = [0]
    addresses: list[str] = []
    names: list[str | None] = []
    total = 0
    for addrs in lists:
        if addrs:
            total += len(addrs)
            for a in addrs:
                addresses.append(a.address)
                names.append(a.name)
        offsets.append(total)
    children = pa.StructArray.from_arrays(
        [pa.array(addresses, pa.string()), pa.array(names, pa.string())],
        fields=_ADDRESS_FIELDS,
    )
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), children)


def _string_lists(lists: list[list[str]]) -> pa.Array:
    offsets = [0]
    flat: list[str] = []
    for values in lists:
        if values:
            flat.extend(values)
        offsets.append(len(flat))
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(flat, pa.string()))


def messages_frame(records: list[MessageRecord]) -> pl.DataFrame:
    """Messages as a polars frame with `MESSAGE_SCHEMA`, ready to load.

    Built column by column as Arrow arrays (lists and structs from flat children and
    offsets), then handed to polars without a copy: per-value Python objects such as a
    dict per address cost ten times the reading of the messages themselves.
    """
    columns: dict[str, pa.Array] = {}
    for name in _SCALAR_MESSAGE_COLUMNS:
        columns[name] = pa.array([getattr(r, name) for r in records], pa.string())
    columns["sent_at"] = pa.array([r.sent_at for r in records], pa.timestamp("us", "UTC"))
    for name in ("from_addrs", "to_addrs", "cc_addrs", "bcc_addrs"):
        columns[name] = _address_lists([getattr(r, name) for r in records])
    columns["references"] = _string_lists([r.references for r in records])
    columns["labels"] = _string_lists([r.labels for r in records])
    columns["has_list_unsubscribe"] = pa.array([r.has_list_unsubscribe for r in records],
                                               pa.bool_())
    table = pa.table({name: columns[name] for name in MESSAGE_SCHEMA})
    return pl.from_arrow(table).cast(MESSAGE_SCHEMA)


def events_frame(records: list[EventRecord]) -> pl.DataFrame:
    """Events as a polars frame with `EVENT_SCHEMA`, ready to load."""
    columns: dict[str, list[Any]] = {name: [] for name in EVENT_SCHEMA}
    for r in records:
        for name in EVENT_SCHEMA:
            value = getattr(r, name)
            if name == "attendees":
                value = [
                    {
                        "address": a.address,
                        "name": a.name,
                        "response_status": a.response_status,
                        "is_self": a.is_self,
                        "is_organizer": a.is_organizer,
                        "optional": a.optional,
                        "is_resource": a.is_resource,
                    }
                    for a in value
                ]
            columns[name].append(value)
    return pl.DataFrame(columns, schema=EVENT_SCHEMA)


def quarantine_frame(records: list[QuarantineRecord]) -> pl.DataFrame:
    """Quarantined inputs as a polars frame with `QUARANTINE_SCHEMA`."""
    columns: dict[str, list[Any]] = {name: [] for name in QUARANTINE_SCHEMA}
    for r in records:
        for name in QUARANTINE_SCHEMA:
            columns[name].append(getattr(r, name))
    return pl.DataFrame(columns, schema=QUARANTINE_SCHEMA)
