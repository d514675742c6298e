"""Calendar API event resources shaped into keepwarm's `EventRecord`s.

The mapping matches the .ics reader (connectors/takeout/ics.py), so the model treats an
event the same whether it came from a Takeout export or from the API:

* `event_key`: the event's `id`. Google names an instance of a recurring event after
  its series and original start (`<seriesId>_20240108T090000Z`, `<seriesId>_20240201` for
  all-day ones), unique within the calendar and kept when the instance moves, as the
  .ics reader names its instances. `recurring_event_id` and `ical_uid` are kept as given.
* times in UTC; all-day events (`date` rather than `dateTime`) from midnight UTC of the
  start date to midnight UTC of the (exclusive) end date. An end before the start is
  clamped to the start, as the .ics reader does.
* `status` as given ("confirmed", "tentative", "cancelled"); anything else "confirmed".
* attendees: `email` lower-cased (entries without one, such as some groups, are
  skipped); `responseStatus` as given, unknown values "needsAction"; `optional`,
  `resource` as given; `is_organizer` from the attendee's `organizer` flag or the
  organizer's address; `is_self` for the account's own address, and for Google's `self`
  flag on the account's primary calendar only (on another calendar `self` names that
  calendar, not the user).
* `has_conference`: `conferenceData` with a conference id or entry point, a
  `hangoutLink`, or a URL in `location`; `has_location`: `location` has text once URLs
  are removed (a Zoom link typed as the location is not a room).
* `event_type` as given ("default" when absent): focusTime, outOfOffice, workingLocation,
  birthday and fromGmail events are kept and the model leaves them out of meetings.
* `summary` only when the user opted in.
* `birthday_contact`: a birthday event's `birthdayProperties.contact`, the People API
  resource name of the contact it was made from (how marts.key_dates finds whose it is).

A cancelled event that still carries its times (on the organizer's calendar Google keeps
the details of cancelled events and cancelled instances) is kept, marked "cancelled", like
a cancelled .ics instance. One without times (Google guarantees only the id for a deleted
event, and id, recurringEventId and originalStartTime for a cancelled instance) cannot be
a record: `is_removal` says so, and the connector deletes its key.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.records import (
    EVENT_STATUSES,
    RESPONSE_STATUSES,
    Attendee,
    EventRecord,
    QuarantineRecord,
)

SOURCE = "gcal"

# The same test as the .ics reader's: a URL anywhere in the location is a video link.
_URL = re.compile(r"(?:https?://|www\.)\S+", re.I)


class UnusableEventError(ValueError):
    """An event resource that cannot become a record (no id, unreadable times)."""


def is_removal(item: dict[str, Any]) -> bool:
    """A cancelled event Google sent without its times: its row is to be deleted."""
    return item.get("status") == "cancelled" and not (item.get("start") and item.get("end"))


def is_primary(account: str, calendar_id: str) -> bool:
    """Whether `calendar_id` names the account's own primary calendar."""
    return calendar_id == "primary" or calendar_id.lower() == account.lower()


def event_time(value: dict[str, Any] | None) -> tuple[datetime, bool]:
    """An EventDateTime as aware UTC, and whether it was a date (all-day).

    Raises:
        UnusableEventError: neither a valid `date` nor a valid `dateTime`.
    """
    if not value:
        raise UnusableEventError("event has no start or end")
    try:
        if value.get("date"):
            day = date.fromisoformat(value["date"])
            return datetime.combine(day, time(), tzinfo=UTC), True
        moment = datetime.fromisoformat(value["dateTime"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UnusableEventError(f"unreadable event time {value!r}") from exc
    if moment.tzinfo is None:
        # Google sends an offset; without one the time is in the given zone (else UTC).
        try:
            zone = ZoneInfo(value["timeZone"]) if value.get("timeZone") else UTC
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise UnusableEventError(f"unknown time zone {value.get('timeZone')!r}") from exc
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC), False


def conference_and_location(item: dict[str, Any]) -> tuple[bool, bool]:
    """(has_conference, has_location) by the rules in the module docstring."""
    location = (item.get("location") or "").strip()
    conference = item.get("conferenceData") or {}
    has_conference = bool(
        conference.get("conferenceId")
        or conference.get("entryPoints")
        or item.get("hangoutLink")
        or _URL.search(location)
    )
    has_location = bool(re.search(r"\w", _URL.sub("", location)))
    return has_conference, has_location


def attendees_of(
    item: dict[str, Any], organizer: str | None, *, account: str, primary: bool
) -> list[Attendee]:
    """The attendees of one event, by the rules in the module docstring."""
    me = account.strip().lower()
    result: list[Attendee] = []
    for entry in item.get("attendees") or []:
        address = (entry.get("email") or "").strip().lower()
        if not address:
            continue
        response = entry.get("responseStatus")
        result.append(
            Attendee(
                address=address,
                name=entry.get("displayName") or None,
                response_status=response if response in RESPONSE_STATUSES else "needsAction",
                is_self=address == me or (primary and bool(entry.get("self"))),
                is_organizer=bool(entry.get("organizer"))
                or (organizer is not None and address == organizer),
                optional=bool(entry.get("optional")),
                is_resource=bool(entry.get("resource")),
            )
        )
    return result


def event_record(
    account: str, calendar_id: str, item: dict[str, Any], *, include_summary: bool = False
) -> EventRecord:
    """One `events` resource (an instance, with singleEvents=true) as an EventRecord.

    Raises:
        UnusableEventError: the resource lacks an id or readable start and end.
    """
    event_id = item.get("id")
    if not event_id:
        raise UnusableEventError("event resource without an id")
    start_at, all_day = event_time(item.get("start"))
    end_at, _ = event_time(item.get("end"))
    organizer = ((item.get("organizer") or {}).get("email") or "").strip().lower() or None
    status = item.get("status")
    has_conference, has_location = conference_and_location(item)
    return EventRecord(
        account=account,
        source=SOURCE,
        calendar_id=calendar_id,
        event_key=event_id,
        start_at=start_at,
        end_at=max(end_at, start_at),
        ical_uid=item.get("iCalUID"),
        recurring_event_id=item.get("recurringEventId"),
        status=status if status in EVENT_STATUSES else "confirmed",
        all_day=all_day,
        organizer=organizer,
        attendees=attendees_of(
            item, organizer, account=account, primary=is_primary(account, calendar_id)
        ),
        attendees_omitted=bool(item.get("attendeesOmitted")),
        has_conference=has_conference,
        has_location=has_location,
        event_type=item.get("eventType") or "default",
        summary=(item.get("summary") or None) if include_summary else None,
        birthday_contact=(item.get("birthdayProperties") or {}).get("contact") or None,
    )


def quarantine_record(
    account: str, calendar_id: str, item: dict[str, Any], reason: str
) -> QuarantineRecord:
    """What to keep of an event that could not be read: where it is and its times."""
    excerpt = {k: item[k] for k in ("id", "status", "start", "end", "eventType") if k in item}
    return QuarantineRecord(
        source=SOURCE,
        account=account,
        kind="event",
        locator=f"{calendar_id}/{item.get('id') or '?'}",
        reason=reason,
        excerpt=json.dumps(excerpt, sort_keys=True)[:300] or None,
    )
