"""A local Google Calendar API emulator: calendarList.list and events.list of Calendar v3.

Shaped after the discovery document shipped with google-api-python-client
(`googleapiclient/discovery_cache/documents/calendar.v3.json`): the same paths
(`/calendar/v3/users/me/calendarList`, `/calendar/v3/calendars/{calendarId}/events`),
query parameters (unknown ones refused), field names and scopes per method. The server,
quota meter, faults, field masks and token endpoint are tests/emulators/http.py.

What events.list does, as Google documents it:

* instances of recurring events with `singleEvents=true`; without it, one-off events,
  each series once (its first instance with the `recurrence` rules) and the instances
  that differ from their series (moved, changed or cancelled);
* `timeMin` bounds the end, `timeMax` the start (both exclusive, RFC 3339 with an
  offset); all-day dates are read in the calendar's time zone;
* cancelled events only with `showDeleted=true` or a `syncToken`; a cancelled event
  carries its details when the calendar's owner organised it (or `keep_details` says
  so), else only `id` (and `recurringEventId`, `originalStartTime` for an instance);
* `maxResults` (default 250, at most 2500) and `pageToken`; `nextSyncToken` on the last
  page only, naming the calendar's state when the listing began;
* `syncToken`: every event changed since, cancelled ones included; refused with 400
  together with iCalUID, orderBy, the extended-property filters, q, timeMin, timeMax or
  updatedMin, or with showDeleted=false; answered 410 `fullSyncRequired` once the token
  has expired (`expire_sync_tokens`);
* `orderBy=startTime` only with `singleEvents=true`; `orderBy=updated`; `eventTypes`,
  `iCalUID`, `q`, `updatedMin`, `maxAttendees` (more attendees than that: only the
  user's own entry, with `attendeesOmitted`).

Tests change a calendar through its methods (add, move, respond, cancel, delete); each
change is stamped with the calendar's next serial number, which is what sync tokens
count. Events can be built by hand (`StoredEvent`) or read from .ics files
(`events_from_ics`, with icalendar and recurring-ical-events), ids assigned as Google
does: base32hex series ids, instances named `<series>_<original start in UTC>`. PARTSTAT
DELEGATED, which Google has no word for, becomes "declined".
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
import recurring_ical_events

from tests.emulators.http import (
    NOT_FOUND,
    ApiReply,
    FaultPlan,
    GoogleApiEmulator,
    Route,
    bad_request,
    discovery_routes,
    google_error,
    query_flag,
    query_value,
)

EVENTS_SCOPE = "https://www.googleapis.com/auth/calendar.events.readonly"
CALENDAR_LIST_SCOPE = "https://www.googleapis.com/auth/calendar.calendarlist.readonly"

FULL_SYNC_REQUIRED = (
    410,
    google_error(
        410, "Sync token is no longer valid, a full sync is required.", "fullSyncRequired", "GONE"
    ),
)
# Parameters Google refuses next to a syncToken (events.list, parameter syncToken).
NOT_WITH_SYNC_TOKEN = (
    "iCalUID",
    "orderBy",
    "privateExtendedProperty",
    "q",
    "sharedExtendedProperty",
    "timeMin",
    "timeMax",
    "updatedMin",
)
_BASE32HEX = "0123456789abcdefghijklmnopqrstuv"
_EPOCH = datetime(2024, 6, 1, tzinfo=UTC)  # `updated` of the first change; a second each


# --------------------------------------------------------------------------- events


Moment = datetime | date  # an aware datetime, or a date for all-day events


@dataclass
class StoredAttendee:
    email: str
    display_name: str | None = None
    response_status: str = "needsAction"
    optional: bool = False
    resource: bool = False
    organizer: bool = False


@dataclass
class StoredEvent:
    """One event instance (or one-off event) as the emulator holds it.

    `start`/`end` are aware datetimes, or dates for all-day events; `time_zone` is the
    zone `dateTime` values are written in. `changed` is the calendar serial of the last
    change; `exception` marks an instance that differs from its series.
    """

    id: str
    start: Moment
    end: Moment
    time_zone: str = "UTC"
    status: str = "confirmed"
    event_type: str = "default"
    # A birthday event's contact (birthdayProperties.contact: people/c...), if made from one.
    birthday_contact: str | None = None
    summary: str | None = None
    description: str | None = None
    location: str | None = None
    organizer: str | None = None
    organizer_name: str | None = None
    creator: str | None = None
    attendees: list[StoredAttendee] = field(default_factory=list)
    attendees_omitted: bool = False
    hangout_link: str | None = None
    conference_id: str | None = None
    ical_uid: str | None = None
    recurring_event_id: str | None = None
    original_start: Moment | None = None
    recurrence: list[str] = field(default_factory=list)  # the series' rules, on instances
    exception: bool = False
    keep_details: bool | None = None  # when cancelled; None: the organizer's calendar keeps
    changed: int = 0

    def start_utc(self, zone: ZoneInfo) -> datetime:
        return _utc(self.start, zone)

    def end_utc(self, zone: ZoneInfo) -> datetime:
        return _utc(self.end, zone)

    def resource(self, owner: str, *, max_attendees: int | None = None) -> dict[str, Any]:
        """This event as a Calendar `Event` resource on the calendar of `owner`."""
        out: dict[str, Any] = {
            "kind": "calendar#event",
            "etag": f'"{self.changed}"',
            "id": self.id,
            "status": self.status,
        }
        if self.recurring_event_id:
            out["recurringEventId"] = self.recurring_event_id
            out["originalStartTime"] = _event_time(self.original_start, self.time_zone)
        if self.status == "cancelled" and not self.details_kept(owner):
            return out
        out.update(
            {
                "htmlLink": f"https://www.google.com/calendar/event?eid={self.id}",
                "created": _EPOCH.isoformat().replace("+00:00", "Z"),
                "updated": _updated(self.changed),
                "start": _event_time(self.start, self.time_zone),
                "end": _event_time(self.end, self.time_zone),
                "iCalUID": self.ical_uid or f"{self.id}@google.com",
                "sequence": 0,
                "eventType": self.event_type,
                "reminders": {"useDefault": True},
            }
        )
        me = owner.lower()
        if self.summary is not None:
            out["summary"] = self.summary
        if self.description is not None:
            out["description"] = self.description
        if self.location is not None:
            out["location"] = self.location
        if self.organizer:
            out["organizer"] = {"email": self.organizer}
            if self.organizer_name:
                out["organizer"]["displayName"] = self.organizer_name
            if self.organizer.lower() == me:
                out["organizer"]["self"] = True
        creator = self.creator or self.organizer
        if creator:
            out["creator"] = {"email": creator, **({"self": True} if creator.lower() == me else {})}
        attendees = [_attendee(a, me) for a in self.attendees]
        omitted = self.attendees_omitted
        if max_attendees is not None and len(attendees) > max_attendees:
            attendees = [a for a in attendees if a.get("self")]
            omitted = True
        if attendees:
            out["attendees"] = attendees
        if omitted:
            out["attendeesOmitted"] = True
        if self.hangout_link:
            out["hangoutLink"] = self.hangout_link
        if self.conference_id or self.hangout_link:
            uri = self.hangout_link or f"https://meet.google.com/{self.conference_id}"
            out["conferenceData"] = {
                "conferenceId": self.conference_id or uri.rsplit("/", 1)[-1],
                "conferenceSolution": {"key": {"type": "hangoutsMeet"}, "name": "Google Meet"},
                "entryPoints": [{"entryPointType": "video", "uri": uri}],
            }
        if self.event_type == "birthday":
            out["birthdayProperties"] = {"type": "birthday"}
            if self.birthday_contact:
                out["birthdayProperties"]["contact"] = self.birthday_contact
        if self.recurrence and not self.recurring_event_id:
            out["recurrence"] = list(self.recurrence)
        return out

    def details_kept(self, owner: str) -> bool:
        if self.keep_details is not None:
            return self.keep_details
        return (self.organizer or "").lower() == owner.lower()


def _attendee(a: StoredAttendee, me: str) -> dict[str, Any]:
    out: dict[str, Any] = {"email": a.email, "responseStatus": a.response_status}
    if a.display_name:
        out["displayName"] = a.display_name
    for flag, value in (
        ("optional", a.optional),
        ("resource", a.resource),
        ("organizer", a.organizer),
        ("self", a.email.lower() == me),
    ):
        if value:
            out[flag] = True
    return out


def _event_time(moment: Moment | None, zone_name: str) -> dict[str, str]:
    if isinstance(moment, datetime):
        return {
            "dateTime": moment.astimezone(ZoneInfo(zone_name)).isoformat(),
            "timeZone": zone_name,
        }
    assert moment is not None
    return {"date": moment.isoformat()}


def _utc(moment: Moment, zone: ZoneInfo) -> datetime:
    if isinstance(moment, datetime):
        return moment.astimezone(UTC)
    return datetime.combine(moment, day_time(), tzinfo=zone).astimezone(UTC)


def _updated(serial: int) -> str:
    return (_EPOCH + timedelta(seconds=serial)).isoformat().replace("+00:00", "Z")


def stamp(moment: Moment) -> str:
    """Google's suffix for an instance id: the original start in UTC, or the date."""
    if isinstance(moment, datetime):
        return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return moment.strftime("%Y%m%d")


def series_id(uid: str) -> str:
    """A Google-like event id (base32hex, lower case) derived from an iCalendar UID."""
    number = int.from_bytes(hashlib.sha256(uid.encode()).digest()[:16], "big")
    digits = []
    while number:
        number, digit = divmod(number, 32)
        digits.append(_BASE32HEX[digit])
    return "".join(reversed(digits)).rjust(26, "0")


# --------------------------------------------------------------------------- calendars


class StoredCalendar:
    """One calendar: its events and a change serial. Thread-safe."""

    def __init__(
        self,
        calendar_id: str,
        *,
        summary: str | None = None,
        time_zone: str = "UTC",
        primary: bool = False,
        access_role: str = "owner",
        hidden: bool = False,
        owner: str | None = None,
    ) -> None:
        self.id = calendar_id
        self.summary = summary or calendar_id
        self.time_zone = time_zone
        self.primary = primary
        self.access_role = access_role
        self.hidden = hidden
        self.owner = (owner or calendar_id).lower()
        self.events: dict[str, StoredEvent] = {}
        self.serial = 1
        self.min_sync_serial = 0  # sync tokens older than this answer 410
        self.lock = threading.RLock()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    # ---- loading (not changes: a sync token issued later does not see them)

    def load(self, events: Iterable[StoredEvent]) -> StoredCalendar:
        with self.lock:
            for event in events:
                event.changed = self.serial
                self.events[event.id] = event
        return self

    def copy(self) -> StoredCalendar:
        with self.lock:
            other = copy.copy(self)
            other.events = copy.deepcopy(self.events)
            other.lock = threading.RLock()
            return other

    # ---- changes (each one a new serial, seen by incremental syncs)

    def _touch(self, event: StoredEvent) -> StoredEvent:
        self.serial += 1
        event.changed = self.serial
        self.events[event.id] = event
        return event

    def add(self, event: StoredEvent) -> StoredEvent:
        with self.lock:
            return self._touch(event)

    def change(self, event_id: str, **fields: Any) -> StoredEvent:
        """Change fields of an event (an instance so changed becomes an exception)."""
        with self.lock:
            event = replace(self.events[event_id], **fields)
            if event.recurring_event_id:
                event.exception = True
            return self._touch(event)

    def move(self, event_id: str, start: Moment, end: Moment) -> StoredEvent:
        return self.change(event_id, start=start, end=end)

    def respond(self, event_id: str, email: str, response_status: str) -> StoredEvent:
        with self.lock:
            attendees = [
                replace(a, response_status=response_status)
                if a.email.lower() == email.lower()
                else a
                for a in self.events[event_id].attendees
            ]
            return self.change(event_id, attendees=attendees)

    def cancel(self, event_id: str, *, keep_details: bool | None = None) -> StoredEvent:
        """Cancel an event or one instance; Google keeps it as status "cancelled"."""
        return self.change(event_id, status="cancelled", keep_details=keep_details)

    def delete(self, event_id: str) -> StoredEvent:
        """Delete an event: a cancelled entry with nothing but its ids stays behind."""
        return self.cancel(event_id, keep_details=False)

    def expire_sync_tokens(self) -> None:
        """Make every sync token issued so far answer 410 Gone."""
        with self.lock:
            self.serial += 1
            self.min_sync_serial = self.serial

    # ---- reading

    def snapshot(self) -> dict[str, StoredEvent]:
        with self.lock:
            return copy.deepcopy(self.events)

    def entry(self) -> dict[str, Any]:
        """This calendar as a calendarList entry."""
        out: dict[str, Any] = {
            "kind": "calendar#calendarListEntry",
            "id": self.id,
            "summary": self.summary,
            "timeZone": self.time_zone,
            "accessRole": self.access_role,
            "selected": True,
        }
        if self.primary:
            out["primary"] = True
        if self.hidden:
            out["hidden"] = True
        return out


# --------------------------------------------------------------------------- .ics import

# DELEGATED has no Google word: the delegate is invited in their own right, the delegator
# will not come.
_PARTSTAT = {
    "ACCEPTED": "accepted",
    "DECLINED": "declined",
    "TENTATIVE": "tentative",
    "DELEGATED": "declined",
}


def events_from_ics(
    path: str | Path,
    owner: str,
    *,
    window: tuple[datetime, datetime],
    default_zone: str = "UTC",
) -> list[StoredEvent]:
    """The instances of an .ics file in `window`, as Google would hold them once imported.

    Series ids derive from the UID; instances are named after their original start, so
    a moved instance keeps its id. Floating times are read in the file's X-WR-TIMEZONE
    (else `default_zone`).
    """
    calendar = icalendar.Calendar.from_ical(Path(path).read_bytes())
    zone_name = str(calendar.get("X-WR-TIMEZONE") or default_zone)
    components = list(calendar.walk("VEVENT"))
    recurring = {
        str(c.get("UID"))
        for c in components
        if any(c.get(name) is not None for name in ("RRULE", "RDATE", "RECURRENCE-ID"))
    }
    overridden = {
        (str(c.get("UID")), stamp(_aware(c.get("RECURRENCE-ID").dt, zone_name)))
        for c in components
        if c.get("RECURRENCE-ID") is not None
    }
    # Google refuses an event that ends before it starts ("The specified time range is
    # empty"), so such a file event is never imported.
    refused = {
        str(c.get("UID"))
        for c in components
        if c.get("DTEND") is not None
        and _utc(_aware(c.get("DTEND").dt, zone_name), ZoneInfo(zone_name))
        < _utc(_aware(c.get("DTSTART").dt, zone_name), ZoneInfo(zone_name))
    }
    rules = {
        str(c.get("UID")): [f"RRULE:{c.get('RRULE').to_ical().decode()}"]
        for c in components
        if c.get("RRULE") is not None
    }
    out = []
    for occurrence in recurring_ical_events.of(calendar).between(*window):
        uid = str(occurrence.get("UID"))
        if uid in refused:
            continue
        start = _aware(occurrence.get("DTSTART").dt, zone_name)
        end_property = occurrence.get("DTEND")
        if end_property is not None:
            end = _aware(end_property.dt, zone_name)
        else:
            end = start + (timedelta(days=1) if not isinstance(start, datetime) else timedelta())
        event_zone = _zone_of(occurrence.get("DTSTART"), zone_name)
        base = series_id(uid)
        original = recurrence_id = None
        if uid in recurring:
            original = _aware(occurrence.get("RECURRENCE-ID").dt, zone_name)
            recurrence_id = base
        organizer = _mail(occurrence.get("ORGANIZER"))
        conference = occurrence.get("X-GOOGLE-CONFERENCE") or occurrence.get("CONFERENCE")
        out.append(
            StoredEvent(
                id=f"{base}_{stamp(original)}" if original is not None else base,
                start=start,
                end=end,
                time_zone=event_zone,
                status=str(occurrence.get("STATUS") or "CONFIRMED").lower(),
                summary=_text(occurrence.get("SUMMARY")),
                description=_text(occurrence.get("DESCRIPTION")),
                location=_text(occurrence.get("LOCATION")),
                organizer=organizer,
                organizer_name=_param(occurrence.get("ORGANIZER"), "CN"),
                attendees=[
                    _ics_attendee(value, organizer)
                    for value in _as_list(occurrence.get("ATTENDEE"))
                    if _mail(value)
                ],
                hangout_link=str(conference) if conference is not None else None,
                ical_uid=uid,
                recurring_event_id=recurrence_id,
                original_start=original,
                recurrence=rules.get(uid, []),
                exception=original is not None and (uid, stamp(original)) in overridden,
            )
        )
    return out


def _aware(value: Any, zone_name: str) -> Moment:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=ZoneInfo(zone_name))
    return value


def _zone_of(prop: Any, fallback: str) -> str:
    tzid = (getattr(prop, "params", {}) or {}).get("TZID")
    if tzid:
        try:
            ZoneInfo(str(tzid).strip("/"))
            return str(tzid).strip("/")
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return fallback


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _text(value: Any) -> str | None:
    return str(value) if value is not None else None


def _param(value: Any, name: str) -> str | None:
    found = (getattr(value, "params", {}) or {}).get(name)
    return str(found) if found else None


def _mail(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text[7:] if text[:7].lower() == "mailto:" else text or None


def _ics_attendee(value: Any, organizer: str | None) -> StoredAttendee:
    email = _mail(value) or ""
    partstat = (_param(value, "PARTSTAT") or "").upper()
    return StoredAttendee(
        email=email,
        display_name=_param(value, "CN"),
        response_status=_PARTSTAT.get(partstat, "needsAction"),
        optional=(_param(value, "ROLE") or "").upper() in ("OPT-PARTICIPANT", "NON-PARTICIPANT"),
        resource=(_param(value, "CUTYPE") or "").upper() in ("ROOM", "RESOURCE"),
        organizer=organizer is not None and email.lower() == organizer.lower(),
    )


# --------------------------------------------------------------------------- server

_METHODS = ("calendarList.list", "events.list")


class CalendarEmulator(GoogleApiEmulator):
    """The Calendar server. Use as a context manager, or call start() and stop().

    Args:
        units_per_minute: per-user request ceiling (each call costs 1); None: unlimited.
        clock: seconds on the same scale as the client's limiter.
        faults: random failures to inject.
        scopes: scopes of tokens the emulator did not mint (and of refresh tokens).
    """

    batch_paths = ("/batch/calendar/v3",)

    def __init__(
        self,
        *,
        units_per_minute: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        faults: FaultPlan | None = None,
        scopes: Iterable[str] = (EVENTS_SCOPE, CALENDAR_LIST_SCOPE),
    ) -> None:
        super().__init__(
            units_per_minute=units_per_minute, clock=clock, faults=faults, scopes=scopes
        )
        self.calendars: dict[str, dict[str, StoredCalendar]] = {}  # account -> id -> calendar
        self.routes = discovery_routes("calendar", "v3", _METHODS)

    def add_calendar(
        self, account: str, calendar: StoredCalendar, token: str | None = None
    ) -> StoredCalendar:
        account = account.lower()
        self.calendars.setdefault(account, {})[calendar.id] = calendar
        self.meter(account)
        if token:
            self.grant(token, account)
        return calendar

    # ---- the methods

    def accounts(self) -> Collection[str]:
        return self.calendars.keys()

    def cost(self, route: Route) -> int:
        return 1

    def answer(
        self, account: str, route: Route, args: dict[str, str], query: dict[str, list[str]]
    ) -> dict[str, Any]:
        if route.method_id == "calendar.calendarList.list":
            return self._calendar_list(account, query)
        calendar = self._calendar(account, args["calendarId"])
        return _EventsQuery(calendar, query).answer()

    def _calendar(self, account: str, calendar_id: str) -> StoredCalendar:
        held = self.calendars[account]
        if calendar_id == "primary":
            calendar_id = next((c.id for c in held.values() if c.primary), account)
        if calendar_id not in held:
            raise ApiReply(*NOT_FOUND)
        return held[calendar_id]

    def _calendar_list(self, account: str, query: dict[str, list[str]]) -> dict[str, Any]:
        if "syncToken" in query:
            raise bad_request("the emulator serves calendarList without sync tokens")
        roles = ["freeBusyReader", "reader", "writer", "owner"]
        least = query_value(query, "minAccessRole")
        show_hidden = query_flag(query, "showHidden") or False
        entries = [
            c.entry()
            for c in sorted(self.calendars[account].values(), key=lambda c: c.id)
            if (show_hidden or not c.hidden)
            and (least is None or roles.index(c.access_role) >= roles.index(least))
        ]
        size = max(1, min(int(query_value(query, "maxResults", "100")), 250))
        offset = int(query_value(query, "pageToken", "0") or 0)
        out: dict[str, Any] = {
            "kind": "calendar#calendarList",
            "etag": '"list"',
            "items": entries[offset : offset + size],
        }
        if offset + size < len(entries):
            out["nextPageToken"] = str(offset + size)
        return out


class _EventsQuery:
    """One events.list call: its parameters checked, then one page of answers."""

    def __init__(self, calendar: StoredCalendar, query: dict[str, list[str]]) -> None:
        self.calendar = calendar
        self.query = query
        self.sync_token = query_value(query, "syncToken")
        self.single = query_flag(query, "singleEvents") or False
        self.order_by = query_value(query, "orderBy")
        show_deleted = query_flag(query, "showDeleted")
        if self.sync_token is not None:
            refused = [name for name in NOT_WITH_SYNC_TOKEN if name in query]
            if refused:
                raise bad_request(
                    f"Sync token cannot be combined with {', '.join(refused)}.", "invalid"
                )
            if show_deleted is False:
                raise bad_request("showDeleted=false cannot be used with a sync token.")
        if self.order_by == "startTime" and not self.single:
            raise bad_request(
                "The requested ordering is not available for the particular query.", "invalid"
            )
        self.show_deleted = bool(show_deleted) or self.sync_token is not None
        self.time_min = _timestamp(query, "timeMin")
        self.time_max = _timestamp(query, "timeMax")
        self.updated_min = _timestamp(query, "updatedMin")
        if self.time_min and self.time_max and self.time_max <= self.time_min:
            raise bad_request("The specified time range is empty.", "timeRangeEmpty")
        self.size = max(1, min(int(query_value(query, "maxResults", "250")), 2500))
        max_attendees = query_value(query, "maxAttendees")
        self.max_attendees = int(max_attendees) if max_attendees is not None else None
        self.types = set(query.get("eventTypes", []))
        self.ical_uid = query_value(query, "iCalUID")
        self.text = (query_value(query, "q") or "").lower()

    def signature(self) -> str:
        """What a page token is bound to: every parameter but the page and its size."""
        kept = {
            k: v for k, v in self.query.items() if k not in ("pageToken", "maxResults", "fields")
        }
        return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]

    def answer(self) -> dict[str, Any]:
        calendar = self.calendar
        with calendar.lock:
            since = self._since()
            as_of, after = self._position()
            ordered = sorted((self._sort_key(e), e) for e in self._matching(since))
            remaining = [(k, e) for k, e in ordered if after is None or k > after]
            page = remaining[: self.size]
            more = len(remaining) > self.size
            items = [e.resource(calendar.owner, max_attendees=self.max_attendees) for _, e in page]
        out: dict[str, Any] = {
            "kind": "calendar#events",
            "etag": f'"{as_of}"',
            "summary": calendar.summary,
            "updated": _updated(as_of),
            "timeZone": calendar.time_zone,
            "accessRole": calendar.access_role,
            "defaultReminders": [],
            "items": items,
        }
        if more:
            out["nextPageToken"] = _encode(
                {"sig": self.signature(), "as_of": as_of, "after": list(page[-1][0])}
            )
        else:
            out["nextSyncToken"] = _encode({"calendar": calendar.id, "serial": as_of})
        return out

    def _since(self) -> int | None:
        if self.sync_token is None:
            return None
        try:
            token = _decode(self.sync_token)
        except ValueError as exc:
            raise bad_request("Invalid sync token value.", "invalid") from exc
        if token.get("calendar") != self.calendar.id:
            raise bad_request("Invalid sync token value.", "invalid")
        if token["serial"] < self.calendar.min_sync_serial:
            raise ApiReply(*FULL_SYNC_REQUIRED)
        return int(token["serial"])

    def _position(self) -> tuple[int, tuple[str, ...] | None]:
        page_token = query_value(self.query, "pageToken")
        if not page_token:
            return self.calendar.serial, None
        try:
            token = _decode(page_token)
        except ValueError as exc:
            raise bad_request("Invalid page token value.", "invalid") from exc
        if token.get("sig") != self.signature():
            raise bad_request("The page token does not belong to this query.", "invalid")
        return int(token["as_of"]), tuple(token["after"])

    def _sort_key(self, event: StoredEvent) -> tuple[str, ...]:
        if self.order_by == "startTime":
            return (event.start_utc(self.calendar.zone).isoformat(), event.id)
        if self.order_by == "updated":
            return (f"{event.changed:012d}", event.id)
        return (event.id,)

    def _matching(self, since: int | None) -> list[StoredEvent]:
        zone = self.calendar.zone
        found = []
        for event in self._expanded_or_not():
            if since is not None and event.changed <= since:
                continue
            if event.status == "cancelled" and not self.show_deleted:
                continue
            if self.time_min is not None and event.end_utc(zone) <= self.time_min:
                continue
            if self.time_max is not None and event.start_utc(zone) >= self.time_max:
                continue
            if (
                self.updated_min is not None
                and _EPOCH + timedelta(seconds=event.changed) < self.updated_min
            ):
                continue
            if self.types and event.event_type not in self.types:
                continue
            if self.ical_uid is not None and event.ical_uid != self.ical_uid:
                continue
            if self.text and self.text not in _searchable(event):
                continue
            found.append(event)
        return found

    def _expanded_or_not(self) -> list[StoredEvent]:
        events = list(self.calendar.events.values())
        if self.single:
            return events
        # Series are served once, as their first instance carrying the rules, plus the
        # instances that differ from them.
        out: list[StoredEvent] = []
        firsts: dict[str, StoredEvent] = {}
        zone = self.calendar.zone
        for event in events:
            if not event.recurring_event_id:
                out.append(event)
                continue
            if event.exception:
                out.append(event)
            first = firsts.get(event.recurring_event_id)
            if first is None or _utc(event.original_start, zone) < _utc(first.original_start, zone):
                firsts[event.recurring_event_id] = event
        for series, first in firsts.items():
            members = [e.changed for e in events if e.recurring_event_id == series]
            master = replace(first, id=series, recurring_event_id=None, original_start=None)
            master.start, master.status, master.changed = (
                first.original_start,
                "confirmed",
                max(members),
            )
            out.append(master)
        return out


def _searchable(event: StoredEvent) -> str:
    parts = [event.summary, event.description, event.location, event.organizer]
    parts += [a.email for a in event.attendees] + [a.display_name for a in event.attendees]
    return " ".join(p for p in parts if p).lower()


def _timestamp(query: dict[str, list[str]], name: str) -> datetime | None:
    value = query_value(query, name)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise bad_request(f"Bad Request: {name} is not an RFC 3339 timestamp.") from exc
    if moment.tzinfo is None:
        raise bad_request(f"Bad Request: {name} needs a time zone offset.")
    return moment.astimezone(UTC)


def _encode(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, sort_keys=True).encode()).decode()


def _decode(token: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(token) from exc
    if not isinstance(value, dict):
        raise ValueError(token)
    return value
