"""Hand-built mail and meetings for model tests: tiny histories whose metrics can be
worked out on paper."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from connectors.records import Address, Attendee, EventRecord, MessageRecord

ME = "me@work.example"
ALIAS = "Me.Personal@gmail.com"
AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
_keys = itertools.count()


def mail(
    frm: str,
    to: list[str],
    at: datetime,
    *,
    cc: tuple[str, ...] = (),
    labels: list[str] | None = None,
    rfc_id: str | None = None,
    in_reply_to: str | None = None,
    thread: str | None = None,
    **headers,
) -> MessageRecord:
    key = f"m{next(_keys)}"
    return MessageRecord(
        account=ME,
        source="test",
        message_key=key,
        sent_at=at,
        date_source="date_header",
        rfc_message_id=rfc_id or f"{key}@test",
        thread_key=thread or key,
        from_addrs=[Address(frm)],
        to_addrs=[Address(a) for a in to],
        cc_addrs=[Address(a) for a in cc],
        in_reply_to=in_reply_to,
        labels=labels if labels is not None else (["SENT"] if frm == ME else ["INBOX"]),
        **headers,
    )


def meeting(
    at: datetime,
    minutes: int,
    people: list[tuple[str, str]],
    *,
    status: str = "confirmed",
    in_person: bool = False,
    event_type: str = "default",
) -> EventRecord:
    key = f"e{next(_keys)}"
    return EventRecord(
        account=ME,
        source="test",
        calendar_id="primary",
        event_key=key,
        start_at=at,
        end_at=at + timedelta(minutes=minutes),
        status=status,
        organizer=ME,
        event_type=event_type,
        attendees=[
            Attendee(a, response_status=r, is_self=a == ME, is_resource=a.startswith("room"))
            for a, r in people
        ],
        has_location=in_person,
        has_conference=not in_person,
    )


def row(con, query: str, params=None):
    rows = con.execute(query, params).fetchall()
    assert len(rows) == 1, rows
    return rows[0]
