"""iCalendar (.ics) reader: every event, recurring ones expanded within a window, in Google's terms.

Parsing is `icalendar`; recurrence (RRULE, RDATE, EXDATE, RECURRENCE-ID overrides,
X-WR-TIMEZONE) is `recurring-ical-events`. Each series (all components sharing a UID) is
expanded on its own when the calendar as a whole fails, so one broken event quarantines
itself, not the file.

The window bounds the expansion of recurring series only: a one-off event lands whatever
its date (a calendar's history is what the metrics read), while a series, which may
never end, is expanded into the instances that overlap the window. Instances of a series
that end before the window are not emitted; they are counted (`ReadStats.outside_window`
and the cursor's `outside_window`), so that a window too short for the history shows.
Instances after the window come in as the window moves forward.

Mapping to `EventRecord`:

* `event_key`: the UID for a one-off event; for an instance of a recurring series the UID
  plus the instance's *original* start (its RECURRENCE-ID) in UTC, as Google names
  instances: `<uid>_20240103T090000Z`, or `<uid>_20240105` for all-day ones. A moved
  instance keeps its key. An event without UID gets "h:" + a hash of its DTSTART, DTEND
  and SUMMARY (stable across exports, which rewrite DTSTAMP).
* `recurring_event_id`: the UID for instances of a series, else None.
* times: converted to UTC. Floating times (no zone) are read in the calendar's
  X-WR-TIMEZONE when it has one, else as UTC. All-day events start and end at midnight UTC
  of their dates (DTEND exclusive, one day when missing).
* `status`: STATUS lower-cased ("confirmed" when absent). Cancelled instances (a
  cancelled override, or a cancelled series) are kept and marked "cancelled"; instances
  removed by EXDATE do not exist and are not emitted.
* attendees: ATTENDEE properties of the event itself (not of its alarms). PARTSTAT maps to
  Google's responseStatus: NEEDS-ACTION (and absent) -> needsAction, ACCEPTED -> accepted,
  DECLINED -> declined, TENTATIVE -> tentative, DELEGATED -> declined (the attendee
  handed the invitation to someone else and will not come; the delegate appears as an
  attendee of their own), anything else -> needsAction. ROLE=OPT-PARTICIPANT or
  NON-PARTICIPANT -> optional; CUTYPE=ROOM or RESOURCE -> is_resource; the organizer's
  address -> is_organizer; the account's address -> is_self.
* `has_conference`: a CONFERENCE property (RFC 7986), Google's or Microsoft's conference
  X-properties, a URL in LOCATION, or a Meet/Zoom/Teams/Webex/... link in DESCRIPTION
  or URL. `has_location`: LOCATION has text left once URLs are removed.
* `summary`: only with `include_summary`. Descriptions are never kept, only scanned for
  conference links.
* `event_type`: "outOfOffice" when the event carries `X-MICROSOFT-CDO-BUSYSTATUS:OOF`,
  which Outlook and Exchange write for an appointment shown as "Out of office" (Microsoft's
  [MS-OXCICAL] maps it to PidLidBusyStatus olOutOfOffice); "default" otherwise. Nothing
  else in an .ics says what Google's eventType says, so nothing else is mapped: Google's
  iCal export (Takeout, the secret iCal address) writes out-of-office, focus-time,
  working-location, birthday and from-Gmail events as plain VEVENTs with no type marker
  that could be found, and the Google exports among the test calendars carry only
  TRANSP:OPAQUE. TRANSP says free or busy, not a kind of event (any event can be marked
  free), and CATEGORIES holds the user's own words, so neither is read as a type; other
  X-MICROSOFT-CDO-BUSYSTATUS values (FREE, TENTATIVE, BUSY) are availability, not types.

Each recurring series is expanded on its own, in slices of the window, within bounds
(`read_ics`'s `max_instances_per_series` and `max_seconds_per_series`): a series past
them (FREQ=SECONDLY over a year, say) is quarantined with the reason, and so is a rule
with INTERVAL=0, which would never end. Instances before the window are counted up to
the same bounds.

Malformed input is quarantined with locator "<path>:<UID>" (or "<path>:#<n>" for the n-th
event when it has no UID, "<path>:file" when the file itself does not parse): an event
with no or an invalid DTSTART, an invalid RRULE/RDATE/EXDATE/DURATION, an end before
its start (whatever the zones, a TZID the reader does not know included), an
unterminated calendar. VTODO, VJOURNAL and VFREEBUSY are not events and are skipped.

Cursor (`Cursor.value`), one per file (`stream` = absolute path):

    {"size": n, "mtime_ns": n, "sha256": hex, "window_start": iso, "window_end": iso,
     "window_bounds": "recurring", "outside_window": n, "complete": true}

Unchanged size, mtime and window -> nothing is yielded. A changed window re-expands the
file (instances enter the window as time passes). A cursor without `"window_bounds":
"recurring"` was taken when the window dropped one-off events too, so its file is read
again. Intermediate batches of a large file carry `"complete": false`, so a run
interrupted between them reads the file again.
"""

from __future__ import annotations

import hashlib
import os
import re
import time as clock
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import icalendar
import recurring_ical_events

from connectors.headers import restore_obfuscated, usable_address
from connectors.records import Attendee, Batch, Cursor, EventRecord, QuarantineRecord
from connectors.takeout.files import SourceFileError, cursor_value, describe_os_error, stat_file
from connectors.takeout.message import EXCERPT_CHARS, ReadStats

SOURCE = "ics"

_PARTSTAT = {
    "NEEDS-ACTION": "needsAction",
    "ACCEPTED": "accepted",
    "DECLINED": "declined",
    "TENTATIVE": "tentative",
    "DELEGATED": "declined",
}
_STATUSES = {"CONFIRMED": "confirmed", "TENTATIVE": "tentative", "CANCELLED": "cancelled"}
_OPTIONAL_ROLES = {"OPT-PARTICIPANT", "NON-PARTICIPANT"}
_RESOURCE_TYPES = {"ROOM", "RESOURCE"}
_CONFERENCE_PROPERTIES = (
    "CONFERENCE",
    "X-GOOGLE-CONFERENCE",
    "X-MICROSOFT-SKYPETEAMSMEETINGURL",
    "X-MICROSOFT-ONLINEMEETINGCONFLINK",
    "X-MICROSOFT-ONLINEMEETINGEXTERNALLINK",
)
_URL = re.compile(r"(?:https?://|www\.)\S+", re.I)
_CONFERENCE_LINK = re.compile(
    r"(?:meet\.google\.com|hangouts\.google\.com|zoom\.us|zoomgov\.com|teams\.microsoft\.com"
    r"|teams\.live\.com|webex\.com|gotomeeting\.com|meet\.goto\.com|whereby\.com"
    r"|meet\.jit\.si|bluejeans\.com|chime\.aws)/",
    re.I,
)
_PRIVATE_PROPERTIES = re.compile(
    r"^(SUMMARY|DESCRIPTION|LOCATION|COMMENT|ATTACH|X-ALT-DESC)([;:])[^\n]*(?:\n[ \t][^\n]*)*",
    re.M | re.I,
)


def _utc_window(moment: date | datetime) -> datetime:
    if isinstance(moment, datetime):
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return datetime.combine(moment, time(), tzinfo=UTC)


def _as_utc(value: date | datetime) -> tuple[datetime, bool]:
    """A DTSTART/DTEND value as aware UTC, and whether it was a date (all-day)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC), False
        return value.astimezone(UTC), False
    return datetime.combine(value, time(), tzinfo=UTC), True


def _instance_stamp(value: date | datetime) -> str:
    if isinstance(value, datetime):
        moment, _ = _as_utc(value)
        return moment.strftime("%Y%m%dT%H%M%SZ")
    return value.strftime("%Y%m%d")


def _address(value: Any) -> str | None:
    """The e-mail address in a CAL-ADDRESS value ("mailto:a@b"), lower-cased; an
    obfuscated one restored ("mailto:a at b.org"), None when it has no domain (as in
    mail: see `connectors.headers.usable_address`)."""
    params = getattr(value, "params", {}) or {}
    text = str(value).strip()
    if text[:7].lower() == "mailto:":
        text = text[7:]
    elif params.get("EMAIL"):
        text = str(params["EMAIL"])
    text = restore_obfuscated(text.strip()).lower()
    return text if usable_address(text) else None


def _param(value: Any, name: str) -> str | None:
    params = getattr(value, "params", None)
    if not params:
        return None
    found = params.get(name)
    if found is None:
        return None
    if isinstance(found, list | tuple):
        if not found:
            return None
        found = found[0]
    text = str(found).strip()
    return text or None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def attendees_of(component: Any, organizer: str | None, account: str) -> list[Attendee]:
    """The ATTENDEE properties of one event, in Google Calendar's terms."""
    me = account.strip().lower()
    result: list[Attendee] = []
    for value in _as_list(component.get("ATTENDEE")):
        address = _address(value)
        if address is None:
            continue
        partstat = (_param(value, "PARTSTAT") or "NEEDS-ACTION").upper()
        result.append(
            Attendee(
                address=address,
                name=_param(value, "CN"),
                response_status=_PARTSTAT.get(partstat, "needsAction"),
                is_self=address == me,
                is_organizer=organizer is not None and address == organizer,
                optional=(_param(value, "ROLE") or "").upper() in _OPTIONAL_ROLES,
                is_resource=(_param(value, "CUTYPE") or "").upper() in _RESOURCE_TYPES,
            )
        )
    return result


def _text(component: Any, name: str) -> str:
    value = component.get(name)
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


def conference_and_location(component: Any) -> tuple[bool, bool]:
    """(has_conference, has_location) by the rules in the module docstring."""
    location = _text(component, "LOCATION").strip()
    has_conference = any(component.get(name) is not None for name in _CONFERENCE_PROPERTIES)
    if not has_conference:
        has_conference = any(
            key.startswith("X-") and ("CONFERENCE" in key or "ONLINEMEETING" in key)
            for key in component
        )
    if _URL.search(location):
        has_conference = True
    if not has_conference:
        has_conference = bool(
            _CONFERENCE_LINK.search(_text(component, "DESCRIPTION"))
            or _CONFERENCE_LINK.search(_text(component, "URL"))
        )
    has_location = bool(re.search(r"\w", _URL.sub("", location)))
    return has_conference, has_location


def _uid(component: Any) -> str | None:
    value = component.get("UID")
    text = str(value).strip() if value is not None else ""
    return text or None


def _content_key(component: Any) -> str:
    digest = hashlib.sha256()
    for name in ("DTSTART", "DTEND", "DURATION", "SUMMARY"):
        value = component.get(name)
        digest.update(value.to_ical() if hasattr(value, "to_ical") else str(value).encode())
        digest.update(b"\x00")
    return "h:" + digest.hexdigest()[:32]


def _excerpt(text: str, include_summary: bool) -> str:
    if not include_summary:
        text = _PRIVATE_PROPERTIES.sub(lambda m: f"{m.group(1)}{m.group(2)}[omitted]", text)
    return text.replace("\r\n", "\n")[:EXCERPT_CHARS]


def _component_text(component: Any) -> str:
    try:
        return component.to_ical().decode("utf-8", "replace")
    except Exception:  # a component too broken to serialise still gets quarantined
        return ""


def _reason(error: Exception) -> str:
    """A quarantine reason a person can act on, from whatever the libraries raised."""
    if isinstance(error, KeyError):
        name = str(error.args[0]) if error.args else "a required property"
        if name == "DTSTART":
            return "event has no DTSTART (start time)"
        return f"event lacks {name}"
    message = " ".join(str(error).split())[:200]
    if isinstance(error, recurring_ical_events.BadRuleStringFormat):
        return f"invalid recurrence rule: {message}"
    if isinstance(error, recurring_ical_events.PeriodEndBeforeStart):
        return f"event ends before it starts: {message}"
    if isinstance(error, ValueError):
        return f"invalid value: {message}"
    return f"cannot expand event ({type(error).__name__}): {message}"


def _ends_before_start(start: date | datetime, end: date | datetime) -> bool:
    """Whether DTEND is before DTSTART, whatever their zones.

    A TZID the reader does not know leaves a naive time; two of them (the same unknown
    zone) compare as local times. One naive time against an aware one is read in the
    other's zone, as the expansion reads it: comparing them any other way raises, and an
    event that ends before it starts would land as a meeting that lasts the gap.
    """
    if isinstance(start, datetime) and isinstance(end, datetime):
        if start.tzinfo is None and end.tzinfo is not None:
            start = start.replace(tzinfo=end.tzinfo)
        elif end.tzinfo is None and start.tzinfo is not None:
            end = end.replace(tzinfo=start.tzinfo)
    return end < start


def _rule_text(component: Any) -> str:
    rules = _as_list(component.get("RRULE"))
    try:
        return "; ".join(rule.to_ical().decode("ascii", "replace") for rule in rules)[:160]
    except Exception:  # a rule too broken to serialise
        return "RRULE"


class SeriesTooLarge(Exception):
    """A recurring series went past a bound of its expansion; the message says which."""


class _Bounds:
    """How far one series may expand: instances and seconds (see `read_ics`)."""

    def __init__(self, max_instances: int, max_seconds: float) -> None:
        if max_instances < 1:
            raise ValueError(f"max_instances_per_series must be at least 1, not {max_instances}")
        if max_seconds <= 0:
            raise ValueError(f"max_seconds_per_series must be positive, not {max_seconds}")
        self.max_instances = max_instances
        self.max_seconds = max_seconds


class _Series:
    """Components sharing a UID (a master and its overrides), or one UID-less event."""

    def __init__(self, index: int, uid: str | None) -> None:
        self.index = index
        self.uid = uid
        self.components: list[Any] = []

    @property
    def label(self) -> str:
        return self.uid if self.uid is not None else f"#{self.index}"

    @property
    def rule(self) -> str:
        """The master's RRULE as written, for a reason; "RDATE" when it has none."""
        for component in self.components:
            if component.get("RRULE") is not None:
                return _rule_text(component)
        return "RDATE"

    @property
    def recurring(self) -> bool:
        """Whether its occurrences are instances of a series (keyed by original start)."""
        return any(
            c.get(name) is not None
            for c in self.components
            for name in ("RRULE", "RDATE", "RECURRENCE-ID")
        )

    def problem(self) -> str | None:
        """A reason to quarantine the series before trying to expand it, or None."""
        for component in self.components:
            for name in ("DTSTART", "DTEND", "DURATION", "RECURRENCE-ID"):
                if isinstance(component.get(name), list):
                    return f"{name} appears more than once in one event"
            start = component.get("DTSTART")
            if start is None:
                return "event has no DTSTART (start time)"
            end = component.get("DTEND")
            try:
                if end is not None and _ends_before_start(start.dt, end.dt):
                    return "event ends (DTEND) before it starts (DTSTART)"
            except (TypeError, ValueError, AttributeError):
                pass  # mixed date/datetime or a broken value: left to the expansion to judge
            for rule in _as_list(component.get("RRULE")):
                try:
                    intervals = [int(n) for n in rule.get("INTERVAL", [])]
                except (TypeError, ValueError, AttributeError):
                    continue  # left to the expansion to judge
                if any(n < 1 for n in intervals):
                    # recurring-ical-events (through dateutil) loops forever on it.
                    return (f"recurrence rule has INTERVAL={min(intervals)}, which never "
                            f"moves on: {_rule_text(component)}")
            for name in ("RDATE", "EXDATE"):
                for values in _as_list(component.get(name)):
                    try:
                        moments = [getattr(v, "dt", None) for v in getattr(values, "dts", [])]
                    except ValueError as error:  # icalendar's BrokenCalendarProperty
                        return f"invalid {name}: {' '.join(str(error).split())[:160]}"
                    if any(isinstance(moment, time) for moment in moments):
                        return f"{name} gives a time of day without a date"
        return None


def _series_of(events: Iterable[Any]) -> list[_Series]:
    by_uid: dict[str, _Series] = {}
    result: list[_Series] = []
    for index, event in enumerate(events):
        uid = _uid(event)
        if uid is None:
            series = _Series(index, None)
            result.append(series)
        else:
            series = by_uid.get(uid)
            if series is None:
                series = by_uid[uid] = _Series(index, uid)
                result.append(series)
        series.components.append(event)
    return result


def _mini_calendar(root: Any, timezones: list[Any], components: list[Any]) -> Any:
    calendar = icalendar.Calendar()
    for name in ("X-WR-TIMEZONE", "VERSION", "PRODID"):
        if root.get(name) is not None:
            calendar.add(name, root.get(name))
    for component in (*timezones, *components):
        calendar.add_component(component)
    return calendar


def _event_record(
    occurrence: Any,
    series: _Series,
    *,
    account: str,
    calendar_id: str,
    include_summary: bool,
) -> EventRecord:
    start_value = occurrence.get("DTSTART").dt
    end_property = occurrence.get("DTEND")
    start_at, all_day = _as_utc(start_value)
    if end_property is not None:
        end_at, _ = _as_utc(end_property.dt)
    else:
        end_at = start_at + (timedelta(days=1) if all_day else timedelta(0))
    # recurring-ical-events stamps every occurrence with RECURRENCE-ID (its original
    # start), one-off events included; only instances of a series are keyed by it.
    recurrence = occurrence.get("RECURRENCE-ID") if series.recurring else None
    uid = series.uid
    base_key = uid if uid is not None else _content_key(series.components[0])
    if recurrence is not None:
        event_key = f"{base_key}_{_instance_stamp(recurrence.dt)}"
        recurring_event_id = base_key
    else:
        event_key = base_key
        recurring_event_id = None
    organizer_value = occurrence.get("ORGANIZER")
    organizer = _address(organizer_value) if organizer_value is not None else None
    status = _STATUSES.get(_text(occurrence, "STATUS").strip().upper(), "confirmed")
    has_conference, has_location = conference_and_location(occurrence)
    summary = (_text(occurrence, "SUMMARY").strip() or None) if include_summary else None
    busy_status = _text(occurrence, "X-MICROSOFT-CDO-BUSYSTATUS").strip().upper()
    return EventRecord(
        account=account,
        source=SOURCE,
        calendar_id=calendar_id,
        event_key=event_key,
        start_at=start_at,
        end_at=max(end_at, start_at),
        ical_uid=uid,
        recurring_event_id=recurring_event_id,
        status=status,
        all_day=all_day,
        organizer=organizer,
        attendees=attendees_of(occurrence, organizer, account),
        has_conference=has_conference,
        has_location=has_location,
        event_type="outOfOffice" if busy_status == "OOF" else "default",
        summary=summary,
    )


# What the window bounds, recorded in the cursor: a file read under another rule is read
# again (until this marker, the window dropped one-off events too).
WINDOW_BOUNDS = "recurring"


def _file_cursor(
    st: os.stat_result,
    digest: str,
    window: tuple[datetime, datetime],
    complete: bool,
    outside_window: int,
) -> dict[str, Any]:
    return {
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "sha256": digest,
        "window_start": window[0].isoformat(),
        "window_end": window[1].isoformat(),
        "window_bounds": WINDOW_BOUNDS,
        "outside_window": outside_window,
        "complete": complete,
    }


def read_ics(
    path: str | os.PathLike[str],
    account: str,
    *,
    window_start: date | datetime,
    window_end: date | datetime,
    cursor: Cursor | Mapping[str, Any] | None = None,
    include_summary: bool = False,
    batch_size: int = 5000,
    stats: ReadStats | None = None,
    seen: set[str] | None = None,
    max_instances_per_series: int = 5000,
    max_seconds_per_series: float = 5.0,
) -> Iterator[Batch]:
    """Read the events of an .ics file: every one-off event, recurring ones expanded
    within a window.

    Args:
        path: the .ics file; its stem becomes the `calendar_id`.
        account: the calendar owner's address (marks `is_self` attendees).
        window_start: instances of recurring series ending after this are included (a
            date means midnight UTC; a naive datetime is read as UTC); the earlier ones
            are counted in `stats.outside_window`. One-off events are all included.
        window_end: instances of recurring series starting before this are included.
        cursor: the `Cursor` (or its `value`) from the last batch of a previous run.
        include_summary: keep event titles (only when the user opted in).
        batch_size: records (events + quarantined) per batch.
        stats: optional counters to add to.
        seen: event keys ("<calendar_id>/<event_key>") already emitted in this run.
        max_instances_per_series: a recurring series with more instances than this in
            the window is quarantined with the reason; so is a sub-daily one (FREQ=
            SECONDLY, MINUTELY, HOURLY) repeating more often than this from its DTSTART
            to the window's end, since the library lists each of those.
        max_seconds_per_series: a recurring series whose expansion takes longer than
            this is quarantined with the reason (checked between slices of the window).

    Yields:
        `Batch` objects with `events`, `quarantine` and a
        `Cursor(account, "ics", stream=<absolute path>, value=...)`. Nothing at all when
        the file and the window are unchanged since the cursor was taken.

    Raises:
        SourceFileError: the file is missing or unreadable.
        ValueError: the window ends before it starts, or a bound is not positive.
    """
    file_path = Path(path).expanduser().resolve()
    bounds = _Bounds(max_instances_per_series, max_seconds_per_series)
    window = (_utc_window(window_start), _utc_window(window_end))
    if window[1] <= window[0]:
        raise ValueError(f"window_end {window[1]} is not after window_start {window[0]}")
    st = stat_file(file_path)
    stats = stats if stats is not None else ReadStats()
    seen = seen if seen is not None else set()
    previous = cursor_value(cursor) or {}
    same_window = (
        previous.get("window_start") == window[0].isoformat()
        and previous.get("window_end") == window[1].isoformat()
        and previous.get("window_bounds") == WINDOW_BOUNDS
    )
    if (
        previous.get("complete")
        and same_window
        and previous.get("size") == st.st_size
        and previous.get("mtime_ns") == st.st_mtime_ns
    ):
        stats.skipped_unchanged += 1
        return
    try:
        data = file_path.read_bytes()
    except OSError as error:
        raise SourceFileError(file_path, describe_os_error(error)) from error
    digest = hashlib.sha256(data).hexdigest()
    stream = str(file_path)
    if previous.get("complete") and same_window and previous.get("sha256") == digest:
        stats.skipped_unchanged += 1
        value = _file_cursor(st, digest, window, True, previous.get("outside_window", 0))
        yield Batch(cursor=Cursor(account, SOURCE, stream, value))
        return
    stats.files += 1
    stats.bytes += len(data)
    calendar_id = file_path.stem
    events: list[EventRecord] = []
    quarantine: list[QuarantineRecord] = []
    outside = [0]  # instances of series before the window, counted by `_records`

    def reject(label: str, reason: str, text: str) -> None:
        quarantine.append(
            QuarantineRecord(
                source=SOURCE,
                account=account,
                kind="event",
                locator=f"{stream}:{label}",
                reason=reason,
                excerpt=_excerpt(text, include_summary) or None,
            )
        )

    records = _records(data, file_path, account, calendar_id, window, include_summary, reject,
                       outside, bounds)
    for item in records:
        key = f"{calendar_id}/{item.event_key}"
        if key in seen:
            stats.duplicates += 1
            continue
        seen.add(key)
        events.append(item)
        if len(events) + len(quarantine) >= batch_size:
            stats.events += len(events)
            stats.quarantined += len(quarantine)
            yield Batch(
                events=events,
                quarantine=quarantine,
                cursor=Cursor(account, SOURCE, stream,
                              _file_cursor(st, digest, window, False, outside[0])),
            )
            events, quarantine = [], []
    stats.events += len(events)
    stats.quarantined += len(quarantine)
    stats.outside_window += outside[0]
    yield Batch(
        events=events,
        quarantine=quarantine,
        cursor=Cursor(account, SOURCE, stream, _file_cursor(st, digest, window, True, outside[0])),
    )


def _expand(
    root: Any,
    timezones: list[Any],
    series_list: list[_Series],
    occurrences_of: Any,
    reject: Any,
) -> list[tuple[Any, _Series]]:
    """The occurrences `occurrences_of(query)` picks from these series, each with its series.

    All series at once first: fast, and right for nearly every file. If that fails, one
    series at a time, so a broken one is rejected (and dropped from `series_list`) alone.
    """
    if not series_list:
        return []
    by_uid = {s.uid: s for s in series_list if s.uid is not None}
    if len(by_uid) == len(series_list):  # a UID-less event cannot be matched back
        try:
            calendar = _mini_calendar(root, timezones,
                                      [c for s in series_list for c in s.components])
            found = []
            for occurrence in occurrences_of(recurring_ical_events.of(calendar)):
                series = by_uid.get(_uid(occurrence))
                if series is None:
                    raise LookupError("occurrence without a known UID")
                found.append((occurrence, series))
            return found
        except Exception:  # some series is broken: expand them one by one below
            pass
    found = []
    for series in list(series_list):
        try:
            mini = _mini_calendar(root, timezones, series.components)
            occurrences = list(occurrences_of(recurring_ical_events.of(mini)))
        except Exception as error:  # isolate the broken series, keep the rest
            text = "".join(_component_text(c) for c in series.components)
            reject(series.label, _reason(error), text)
            series_list.remove(series)
            continue
        found.extend((occurrence, series) for occurrence in occurrences)
    return found


# Seconds in one step of a sub-daily FREQ. The library lists every instance from DTSTART
# on (dateutil's cache), so these rules are bounded from DTSTART, not from the window.
_SUB_DAILY = {"SECONDLY": 1, "MINUTELY": 60, "HOURLY": 3600}


def _check_steps(series: _Series, end: datetime, bounds: _Bounds) -> None:
    """Reject a sub-daily rule that repeats more than the bound between DTSTART and `end`.

    Counted in steps of FREQ*INTERVAL up to UNTIL (and COUNT, when no BY... part can
    multiply a step): computed, not expanded, since expanding is what must not happen.
    """
    for component in series.components:
        for rule in _as_list(component.get("RRULE")):
            try:
                freq = str(rule.get("FREQ", [""])[0]).upper()
                if freq not in _SUB_DAILY:
                    continue
                step = _SUB_DAILY[freq] * int(rule.get("INTERVAL", [1])[0])
                first, _ = _as_utc(component.get("DTSTART").dt)
                last = end
                if rule.get("UNTIL"):
                    last = min(last, _as_utc(rule["UNTIL"][0])[0])
                steps = max(0, int((last - first).total_seconds()) // step + 1)
                if rule.get("COUNT") and not any(key.startswith("BY") for key in rule):
                    steps = min(steps, int(rule["COUNT"][0]))
            except (AttributeError, IndexError, KeyError, TypeError, ValueError):
                continue  # left to the expansion to judge
            if steps > bounds.max_instances:
                raise SeriesTooLarge(
                    f"recurring series repeats more than {bounds.max_instances:,} times "
                    f"between its start and the window's end (max_instances_per_series): "
                    f"{series.rule}"
                )


def _window_instances(
    query: Any,
    start: datetime,
    end: datetime,
    bounds: _Bounds,
    series: _Series,
    *,
    capped: bool = False,
) -> list[Any]:
    """The occurrences of one series that overlap [start, end), by start.

    The span is read in slices, never as one list: a slice grows fourfold while the
    series is sparse and shrinks to what the instance bound has left once it is dense, so
    a FREQ=SECONDLY rule stops after a few thousand instances instead of filling memory.
    The clock is read between slices, so it cannot stop a rule that loops inside the
    library without returning (INTERVAL=0, which `_Series.problem` rejects first).

    Raises:
        SeriesTooLarge: past `bounds.max_instances` occurrences in the span, or
            `bounds.max_seconds` spent; with `capped`, what was found by then is returned.
    """
    deadline = clock.monotonic() + bounds.max_seconds
    found: list[Any] = []
    keys: set[str] = set()
    span = timedelta(hours=1)
    cursor = start
    while cursor < end:
        stop = min(cursor + span, end)
        chunk = query.between(cursor, stop)
        for occurrence in chunk:
            key = _instance_key(occurrence)
            if key in keys:  # it overlaps the previous slice too
                continue
            if len(found) >= bounds.max_instances:
                if capped:
                    return found
                raise SeriesTooLarge(
                    f"recurring series expands past {bounds.max_instances:,} instances in "
                    f"the window (max_instances_per_series): {series.rule}"
                )
            keys.add(key)
            found.append(occurrence)
        if clock.monotonic() > deadline:
            if capped:
                return found
            raise SeriesTooLarge(
                f"recurring series takes more than {bounds.max_seconds:g} s to expand in "
                f"the window (max_seconds_per_series): {series.rule}"
            )
        left = bounds.max_instances - len(found) + 1
        grown = span * 4
        if chunk:
            grown = min(grown, span * left / len(chunk))
        span = max(grown, timedelta(seconds=1))
        cursor = stop
    return found


def _count_before_window(
    query: Any,
    series: _Series,
    window: tuple[datetime, datetime],
    in_window: list[Any],
    bounds: _Bounds,
) -> int:
    """Instances of one series that end before the window: left out, only counted (up to
    the series' bounds: a count is not worth a night's run)."""
    starts = []
    for component in series.components:
        try:
            starts.append(_as_utc(component.get("DTSTART").dt)[0])
        except (AttributeError, TypeError, ValueError):
            continue
    earliest = min(starts, default=window[0]) - timedelta(days=1)
    if earliest >= window[0]:
        return 0
    try:
        before = _window_instances(query, earliest, window[0], bounds, series, capped=True)
    except Exception:  # the window's expansion worked; a count is not worth quarantining
        return 0
    in_window_keys = {_instance_key(occurrence) for occurrence in in_window}
    return sum(1 for occurrence in before if _instance_key(occurrence) not in in_window_keys)


def _instance_key(occurrence: Any) -> str:
    recurrence = occurrence.get("RECURRENCE-ID") or occurrence.get("DTSTART")
    return _instance_stamp(recurrence.dt)


def _records(
    data: bytes,
    file_path: Path,
    account: str,
    calendar_id: str,
    window: tuple[datetime, datetime],
    include_summary: bool,
    reject: Any,
    outside: list[int],
    bounds: _Bounds,
) -> Iterator[EventRecord]:
    head = data[:2000].decode("utf-8", "replace")
    try:
        roots = icalendar.Calendar.from_ical(data, multiple=True)
    except Exception as error:  # icalendar raises ValueError, IndexError, ... on bad input
        reject("file", f"not a valid iCalendar file: {_reason(error)}", head)
        return
    if not roots:
        if b"BEGIN:" in data.upper():
            reject("file", "no complete calendar component (an END: line is missing)", head)
        return
    event_index = 0
    for root in roots:
        timezones = list(root.walk("VTIMEZONE"))
        vevents = [c for c in root.walk("VEVENT")]
        if not vevents:
            continue
        all_series = _series_of(vevents)
        for series in all_series:
            series.index += event_index
        event_index += len(vevents)
        one_off: list[_Series] = []
        recurring: list[_Series] = []
        for series in all_series:
            problem = series.problem()
            if problem is not None:
                text = "".join(_component_text(c) for c in series.components)
                reject(series.label, problem, text)
            else:
                (recurring if series.recurring else one_off).append(series)
        for occurrence, series in _expand(
            root, timezones, one_off, lambda query: query.all(), reject
        ):
            yield from _series_records(
                [occurrence], series, account, calendar_id, include_summary, reject
            )
        # One series at a time, each within its bounds: one that runs away is rejected
        # alone, and at most one series' instances are held at once.
        for series in recurring:
            try:
                query = recurring_ical_events.of(
                    _mini_calendar(root, timezones, series.components)
                )
                _check_steps(series, window[1], bounds)
                in_window = _window_instances(query, *window, bounds, series)
            except Exception as error:  # isolate the broken series, keep the rest
                reason = str(error) if isinstance(error, SeriesTooLarge) else _reason(error)
                text = "".join(_component_text(c) for c in series.components)
                reject(series.label, reason, text)
                continue
            outside[0] += _count_before_window(query, series, window, in_window, bounds)
            yield from _series_records(
                in_window, series, account, calendar_id, include_summary, reject
            )


def _series_records(
    occurrences: list[Any],
    series: _Series,
    account: str,
    calendar_id: str,
    include_summary: bool,
    reject: Any,
) -> Iterator[EventRecord]:
    for occurrence in occurrences:
        try:
            yield _event_record(
                occurrence,
                series,
                account=account,
                calendar_id=calendar_id,
                include_summary=include_summary,
            )
        except Exception as error:  # an odd property in one instance
            reject(series.label, _reason(error), _component_text(occurrence))
