"""The Calendar connector against the emulator: real HTTP, real googleapiclient.

The reference for "exactly" is independent of the connector's JSON parsing: expected
records are computed from the emulator's own Python values (aware datetimes, dates,
attendee objects), before they are ever written as JSON; the hand-written calendar's
values are the ones worked out in tests/fixtures/calendar/README.md.
"""

from __future__ import annotations

import math
import warnings
from datetime import UTC, date, datetime, time
from typing import Any

import pytest

from connectors.google import (
    CalendarSyncError,
    CalendarSyncReport,
    QuotaLimiter,
    RetryPolicy,
    sync_calendar,
)
from connectors.records import Attendee, EventRecord
from connectors.takeout import read_ics
from tests.emulators.calendar import StoredAttendee, StoredCalendar, StoredEvent, series_id
from tests.emulators.helpers import (
    ANA_ICS,
    CAL_ACCOUNT,
    CAL_WINDOW,
    ana_calendar,
    calendar_service,
    sync_primary,
)
from tests.emulators.memory import MemoryWarehouse, restarted_until_done

pytest_plugins = ["tests.emulators.plugin"]

WEEKLY = series_id("weekly-1on1@keepwarm.test")
FAST_RETRY = RetryPolicy(base_delay=0.001, max_delay=0.01)


# ------------------------------------------------------------------ the reference


def _utc_start(moment: datetime | date) -> datetime:
    if isinstance(moment, datetime):
        return moment.astimezone(UTC)
    return datetime.combine(moment, time(), tzinfo=UTC)  # all-day: midnight UTC of the date


def expected_record(
    event: StoredEvent, calendar: StoredCalendar, calendar_id: str = "primary"
) -> EventRecord | None:
    """What the connector must store for an emulator event (None: nothing)."""
    if event.status == "cancelled" and not event.details_kept(calendar.owner):
        return None
    organizer = event.organizer.lower() if event.organizer else None
    location = (event.location or "").strip()
    start, end = _utc_start(event.start), _utc_start(event.end)
    return EventRecord(
        account=CAL_ACCOUNT,
        source="gcal",
        calendar_id=calendar_id,
        event_key=event.id,
        start_at=start,
        end_at=max(start, end),
        ical_uid=event.ical_uid or f"{event.id}@google.com",
        recurring_event_id=event.recurring_event_id,
        status=event.status,
        all_day=not isinstance(event.start, datetime),
        organizer=organizer,
        attendees=[
            Attendee(
                address=a.email.lower(),
                name=a.display_name,
                response_status=a.response_status,
                is_self=a.email.lower() == CAL_ACCOUNT,
                is_organizer=a.organizer or a.email.lower() == organizer,
                optional=a.optional,
                is_resource=a.resource,
            )
            for a in event.attendees
        ],
        attendees_omitted=event.attendees_omitted,
        has_conference=bool(event.hangout_link or event.conference_id or "://" in location),
        has_location=bool(location) and not location.startswith(("http://", "https://")),
        event_type=event.event_type,
        birthday_contact=event.birthday_contact if event.event_type == "birthday" else None,
        summary=None,
    )


def in_window(event: StoredEvent, calendar: StoredCalendar, window=CAL_WINDOW) -> bool:
    zone = calendar.zone
    return event.end_utc(zone) > window[0] and event.start_utc(zone) < window[1]


def expected_table(
    calendar: StoredCalendar, *, window=CAL_WINDOW, extra: dict | None = None
) -> dict[str, EventRecord]:
    out = {}
    for event in calendar.snapshot().values():
        if in_window(event, calendar, window):
            record = expected_record(event, calendar)
            if record is not None:
                out[event.id] = record
    out.update(extra or {})
    return out


def sync(
    emulator: Any,
    warehouse: MemoryWarehouse,
    *,
    calendar_id: str = "primary",
    window=CAL_WINDOW,
    limit: int | None = None,
    **kwargs: Any,
) -> CalendarSyncReport:
    report = CalendarSyncReport(CAL_ACCOUNT, calendar_id)
    kwargs.setdefault("retry", FAST_RETRY)
    batches = sync_calendar(
        calendar_service(emulator),
        CAL_ACCOUNT,
        calendar_id,
        warehouse.cursor(CAL_ACCOUNT, calendar_id, "gcal"),
        limiter=QuotaLimiter.for_ceiling(10**6),
        window_start=window[0],
        window_end=window[1],
        known_events=warehouse.known_events(CAL_ACCOUNT, calendar_id),
        report=report,
        **kwargs,
    )
    warehouse.apply_all(batches, limit=limit)
    return report


@pytest.fixture
def calendar(calendar_emulator: Any) -> StoredCalendar:
    return calendar_emulator.add_calendar(CAL_ACCOUNT, ana_calendar())


# ------------------------------------------------------------------ full sync


def test_full_sync_equals_the_emulator_calendar(calendar_emulator, calendar) -> None:
    warehouse = MemoryWarehouse()
    report = sync(calendar_emulator, warehouse)

    stored = warehouse.calendar(CAL_ACCOUNT, "primary")
    assert stored == expected_table(calendar)
    # 331 instances, less the lunch Bo cancelled, of which Ana's copy keeps only the id.
    assert len(stored) == 330
    assert report.mode == "full" and report.events == len(stored)
    assert report.deletions == 1  # that lunch: a key to delete, though none was stored
    assert warehouse.cursor(CAL_ACCOUNT, "primary", "gcal")["phase"] == "incremental"
    assert calendar_emulator.stats.forbidden == []


def test_the_hand_written_calendar_reads_as_worked_out_by_hand(calendar_emulator) -> None:
    calendar = calendar_emulator.add_calendar(CAL_ACCOUNT, ana_calendar(volume=False))
    warehouse = MemoryWarehouse()
    sync(calendar_emulator, warehouse)
    stored = warehouse.calendar(CAL_ACCOUNT, "primary")

    # Mondays 10:00 Berlin (09:00Z) from Jan 8, COUNT=6, Jan 22 EXDATE'd: five instances.
    weekly = sorted(k for k in stored if k.startswith(WEEKLY))
    assert weekly == [
        f"{WEEKLY}_20240108T090000Z",
        f"{WEEKLY}_20240115T090000Z",  # named after its original start, though moved
        f"{WEEKLY}_20240129T090000Z",
        f"{WEEKLY}_20240205T090000Z",
        f"{WEEKLY}_20240212T090000Z",
    ]
    moved = stored[f"{WEEKLY}_20240115T090000Z"]
    assert (moved.start_at, moved.end_at) == (
        datetime(2024, 1, 15, 13, 0, tzinfo=UTC),  # 14:00 Berlin
        datetime(2024, 1, 15, 13, 30, tzinfo=UTC),
    )
    assert {a.address: a.response_status for a in moved.attendees}["bo.berg@example.org"] == (
        "declined"
    )
    # Cancelled on the organizer's (Ana's) own calendar: Google keeps its details.
    assert stored[f"{WEEKLY}_20240129T090000Z"].status == "cancelled"
    assert {stored[k].recurring_event_id for k in weekly} == {WEEKLY}
    assert {stored[k].ical_uid for k in weekly} == {"weekly-1on1@keepwarm.test"}

    first = stored[f"{WEEKLY}_20240108T090000Z"]
    people = {a.address: a for a in first.attendees}
    assert (people["ana@example.com"].is_self, people["ana@example.com"].is_organizer) == (
        True,
        True,
    )
    assert people["bo.berg@example.org"].name == "Bo Berg"  # written Bo.Berg@Example.org
    room = people["c_room401@resource.calendar.google.com"]
    assert (room.is_resource, room.optional) == (True, True)
    assert (first.has_conference, first.has_location) == (True, True)  # Meet + "Room 4.01"

    offsite = stored[series_id("offsite-2024@keepwarm.test")]
    assert offsite.all_day
    assert (offsite.start_at, offsite.end_at) == (
        datetime(2024, 2, 1, tzinfo=UTC),
        datetime(2024, 2, 3, tzinfo=UTC),  # DTEND Feb 3 is exclusive
    )
    assert (offsite.has_conference, offsite.has_location) == (True, False)  # a Zoom URL
    assert offsite.organizer == "carla@example.net"
    guests = {a.address: (a.response_status, a.optional, a.is_resource) for a in offsite.attendees}
    assert guests["ana@example.com"] == ("needsAction", True, False)
    assert guests["dan@example.net"] == ("declined", False, False)  # DELEGATED
    assert guests["projector@resource.example.net"] == ("accepted", False, True)

    # Bo cancelled the lunch; on Ana's calendar Google keeps only its id: nothing stored.
    assert series_id("cancelled-lunch@keepwarm.test") not in stored
    assert series_id("ends-before-start@keepwarm.test") not in stored  # never imported
    assert stored == expected_table(calendar)


def test_an_event_reads_the_same_from_the_api_as_from_the_ics_export(calendar_emulator) -> None:
    calendar_emulator.add_calendar(CAL_ACCOUNT, ana_calendar(volume=False))
    warehouse = MemoryWarehouse()
    sync(calendar_emulator, warehouse)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from_ics = [
            e
            for b in read_ics(
                ANA_ICS, CAL_ACCOUNT, window_start=CAL_WINDOW[0], window_end=CAL_WINDOW[1]
            )
            for e in b.events
        ]

    def same_part(record: EventRecord) -> tuple:
        instance = record.event_key.rpartition("_")[2] if record.recurring_event_id else ""
        return (
            (record.ical_uid, instance),
            (record.start_at, record.end_at, record.all_day, record.status, record.organizer),
            tuple(record.attendees),
            (record.has_conference, record.has_location, record.event_type),
        )

    ics = {same_part(r)[0]: same_part(r) for r in from_ics}
    api = {same_part(r)[0]: same_part(r) for r in warehouse.events.values() if r.ical_uid}
    shared = set(ics) & set(api)
    assert len(shared) == 6  # five weekly instances and the offsite
    for key in shared:
        assert api[key] == ics[key], key
    # Only the .ics keeps the lunch Bo cancelled (with its Teams link in DESCRIPTION).
    assert {uid for uid, _ in set(ics) - set(api)} == {"cancelled-lunch@keepwarm.test"}


# ------------------------------------------------------------------ event types


def test_event_types_are_kept_and_marked(calendar_emulator, calendar) -> None:
    warehouse = MemoryWarehouse()
    sync(calendar_emulator, warehouse)
    stored = warehouse.calendar(CAL_ACCOUNT, "primary")
    birthday = stored[f"{series_id('birthday-bo')}_20240314"]
    assert (birthday.event_type, birthday.all_day, birthday.start_at) == (
        "birthday",
        True,
        datetime(2024, 3, 14, tzinfo=UTC),
    )
    assert birthday.recurring_event_id == series_id("birthday-bo")
    # Whose: the contact Google made it from (birthdayProperties.contact).
    assert birthday.birthday_contact == "people/c_bo"
    assert all(r.birthday_contact is None for r in stored.values() if r.event_type != "birthday")
    types = {k: r.event_type for k, r in stored.items() if r.event_type != "default"}
    assert sorted(types.values()) == [
        "birthday",
        "focusTime",
        "fromGmail",
        "outOfOffice",
        "workingLocation",
    ]
    webinar = stored["webinar20240313"]
    assert webinar.attendees_omitted and [a.address for a in webinar.attendees] == [CAL_ACCOUNT]
    assert (webinar.has_conference, webinar.has_location) == (True, False)
    lunch = stored["lunch20240305"]
    assert [a.address for a in lunch.attendees][1] == "dev@example.net"  # Dev@Example.net
    assert (lunch.has_conference, lunch.has_location) == (False, True)


def test_titles_only_when_asked(calendar_emulator, calendar) -> None:
    plain, titled = MemoryWarehouse(), MemoryWarehouse()
    sync(calendar_emulator, plain)
    sync(calendar_emulator, titled, include_summary=True)
    assert {r.summary for r in plain.events.values()} == {None}
    assert titled.calendar(CAL_ACCOUNT, "primary")["focus20240311"].summary == (
        "Focus time (not a meeting)"
    )


# ------------------------------------------------------------------ window and paging


def test_the_full_sync_reads_only_the_window(calendar_emulator, calendar) -> None:
    window = (datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 15, 10, tzinfo=UTC))
    warehouse = MemoryWarehouse()
    report = sync(calendar_emulator, warehouse, window=window)
    stored = warehouse.calendar(CAL_ACCOUNT, "primary")
    assert stored == expected_table(calendar, window=window)
    # The daily series (14:00 Zurich) on weekdays Mar 1-14: 10; the weekly one (Fridays
    # 20:00 Stockholm) on Mar 1 and 8: 2; the API-only events from Mar 5 to the birthday
    # on Mar 14 (all day in Berlin, so from 23:00Z on Mar 13): 8, not the time off from
    # Mar 18 nor the April flight.
    assert len(stored) == 10 + 2 + 8
    assert min(r.end_at for r in stored.values()) > window[0]
    assert max(r.start_at for r in stored.values()) < window[1]
    assert report.window_start == window[0].isoformat()


def test_pages_are_batches_with_their_position_in_the_cursor(calendar_emulator, calendar) -> None:
    warehouse = MemoryWarehouse()
    cursors: list[dict] = []
    report = CalendarSyncReport(CAL_ACCOUNT, "primary")
    for batch in sync_primary(calendar_service(calendar_emulator), page_size=50, report=report):
        warehouse.apply(batch)
        cursors.append(batch.cursor.value)
    total = len(expected_table(calendar))
    listed = total + 1  # the untimed cancelled lunch comes on a page too
    assert report.pages == math.ceil(listed / 50) + 1  # and one incremental pass after
    assert len(cursors) == report.batches == report.pages
    assert all(c["phase"] == "full" and c["page_token"] for c in cursors[: report.pages - 2])
    assert cursors[-2]["phase"] == "incremental" and cursors[-2]["page_token"] is None
    assert cursors[-1]["sync_token"] == cursors[-2]["sync_token"]  # nothing changed since
    assert warehouse.calendar(CAL_ACCOUNT, "primary") == expected_table(calendar)
    assert report.events == total  # no instance twice


# ------------------------------------------------------------------ incremental


def test_incremental_sync_after_add_move_cancel_and_responses(calendar_emulator, calendar) -> None:
    warehouse = MemoryWarehouse()
    sync(calendar_emulator, warehouse)
    berlin = calendar.zone
    calendar.add(
        StoredEvent(
            "new1on1eve",
            datetime(2024, 5, 6, 9, tzinfo=berlin),
            datetime(2024, 5, 6, 10, tzinfo=berlin),
            "Europe/Berlin",
            organizer="eve@example.org",
            attendees=[
                StoredAttendee("eve@example.org", "Eve", "accepted", organizer=True),
                StoredAttendee(CAL_ACCOUNT, "Ana", "needsAction"),
            ],
        )
    )
    far_future = calendar.add(
        StoredEvent("conf2026", date(2026, 1, 10), date(2026, 1, 12), organizer=CAL_ACCOUNT)
    )
    calendar.move(
        f"{WEEKLY}_20240205T090000Z",
        datetime(2024, 2, 6, 11, tzinfo=berlin),
        datetime(2024, 2, 6, 11, 30, tzinfo=berlin),
    )
    calendar.cancel(f"{WEEKLY}_20240212T090000Z")  # Ana organises it: details kept
    calendar.respond(f"{WEEKLY}_20240108T090000Z", "Bo.Berg@Example.org", "accepted")
    calendar.respond("new1on1eve", CAL_ACCOUNT, "declined")  # two changes, one delivery
    calendar.delete("focus20240311")  # deleted outright: only the id comes back
    daily = sorted(
        k for k, e in calendar.events.items() if (e.ical_uid or "").startswith("BFE33ADD")
    )
    calendar.delete(daily[40])

    report = sync(calendar_emulator, warehouse)

    assert report.mode == "incremental"
    assert (report.events, report.cancelled, report.deletions) == (5, 1, 2)
    assert report.pages == 1
    stored = warehouse.calendar(CAL_ACCOUNT, "primary")
    assert stored == expected_table(
        calendar, extra={"conf2026": expected_record(far_future, calendar)}
    )
    assert stored[f"{WEEKLY}_20240212T090000Z"].status == "cancelled"
    assert "focus20240311" not in stored and daily[40] not in stored
    assert stored[f"{WEEKLY}_20240205T090000Z"].start_at == datetime(2024, 2, 6, 10, tzinfo=UTC)
    assert stored["new1on1eve"].attendees[1].response_status == "declined"
    # Nothing changed since: one request, nothing loaded.
    again = sync(calendar_emulator, warehouse)
    assert (again.mode, again.events, again.deletions, again.pages) == ("incremental", 0, 0, 1)


def test_an_interrupted_incremental_sync_resumes_from_its_page(calendar_emulator, calendar) -> None:
    warehouse = MemoryWarehouse()
    sync(calendar_emulator, warehouse)
    for key in sorted(calendar.events)[:120]:
        calendar.change(key, location="Room 5.02")
    first = sync(calendar_emulator, warehouse, page_size=50, limit=1)
    cursor = warehouse.cursor(CAL_ACCOUNT, "primary", "gcal")
    assert (first.events, cursor["phase"]) == (50, "incremental")
    assert cursor["page_token"]  # mid-way: the old sync token and the next page
    calendar.change(sorted(calendar.events)[0], location="Room 6.01")  # meanwhile
    rest = sync(calendar_emulator, warehouse, page_size=50)
    assert rest.mode == "incremental"
    assert warehouse.calendar(CAL_ACCOUNT, "primary") == expected_table(calendar)
    assert warehouse.cursor(CAL_ACCOUNT, "primary", "gcal")["page_token"] is None


# ------------------------------------------------------------------ 410 and resyncs


def test_an_expired_sync_token_resyncs_in_full_and_prunes_only_inside_the_window(
    calendar_emulator, calendar
) -> None:
    warehouse = MemoryWarehouse()
    sync(calendar_emulator, warehouse)
    stored = warehouse.calendar(CAL_ACCOUNT, "primary")
    template = stored["lunch20240305"]

    def planted(key: str, day: date) -> EventRecord:
        start = datetime.combine(day, time(12), tzinfo=UTC)
        return EventRecord(
            **{
                **_fields(template),
                "event_key": key,
                "start_at": start,
                "end_at": start.replace(hour=13),
            }
        )

    ghost = planted("ghost-deleted-while-token-dead", date(2024, 7, 1))
    history = planted("lunch-2022", date(2022, 7, 1))  # before the window: kept
    for record in (ghost, history):
        warehouse.events[(CAL_ACCOUNT, "primary", record.event_key)] = record
    calendar.delete("roomonly20240308")
    calendar.add(StoredEvent("added-meanwhile", date(2024, 8, 1), date(2024, 8, 2)))
    calendar.expire_sync_tokens()

    report = sync(calendar_emulator, warehouse)

    assert report.mode == "full_after_410"
    assert report.pruned == 1  # the ghost; the deleted room booking came back as a tombstone
    assert report.deletions == 2 + 1  # the lunch and the room booking as tombstones, the ghost
    assert warehouse.calendar(CAL_ACCOUNT, "primary") == expected_table(
        calendar, extra={"lunch-2022": history}
    )
    assert warehouse.cursor(CAL_ACCOUNT, "primary", "gcal")["phase"] == "incremental"
    assert sync(calendar_emulator, warehouse).mode == "incremental"


def _fields(record: EventRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in EventRecord.__slots__}


def test_an_interrupted_resync_never_leaves_fewer_rows(calendar_emulator, calendar) -> None:
    warehouse = MemoryWarehouse()
    sync(calendar_emulator, warehouse)
    before = len(warehouse.events)
    calendar.delete("declined20240306")  # while the token is dead: no tombstone reaches us
    calendar.expire_sync_tokens()
    report = sync(calendar_emulator, warehouse, page_size=40, limit=3)
    assert report.mode == "full_after_410"
    assert len(warehouse.events) == before
    calendar.events.pop("declined20240306")  # Google forgets the tombstone too
    resumed = sync(calendar_emulator, warehouse, page_size=40)
    assert resumed.resumed and resumed.mode == "full_after_410"
    # Earlier pages were listed by the run that died: an id-only listing finds the gone.
    pages = math.ceil((len(expected_table(calendar)) + 1) / 40)  # with the lunch tombstone
    assert resumed.pages == (pages - 3) + pages + 1  # the rest, the id listing, incremental
    assert resumed.pruned == 1
    assert warehouse.calendar(CAL_ACCOUNT, "primary") == expected_table(calendar)


def test_asking_for_more_history_resyncs_the_wider_window(calendar_emulator, calendar) -> None:
    warehouse = MemoryWarehouse()
    narrow = (datetime(2024, 6, 1, tzinfo=UTC), CAL_WINDOW[1])
    sync(calendar_emulator, warehouse, window=narrow)
    assert warehouse.calendar(CAL_ACCOUNT, "primary") == expected_table(calendar, window=narrow)
    later = (datetime(2024, 6, 2, tzinfo=UTC), CAL_WINDOW[1])
    assert sync(calendar_emulator, warehouse, window=later).mode == "incremental"
    report = sync(calendar_emulator, warehouse, window=CAL_WINDOW)
    assert (report.mode, report.pruned) == ("full_window_widened", 0)
    assert warehouse.calendar(CAL_ACCOUNT, "primary") == expected_table(calendar)


# ------------------------------------------------------------------ interruptions


def test_stopped_after_every_few_batches_it_resumes_without_loss_or_duplicates(
    calendar_emulator, calendar
) -> None:
    clean = MemoryWarehouse()
    sync(calendar_emulator, clean, page_size=30)
    warehouse = MemoryWarehouse()

    def run_once(run: int) -> int:
        if run == 3:  # changes while the sync is down: before and after its position
            calendar.delete(sorted(calendar.events)[0])
            calendar.change(sorted(calendar.events)[-1], location="Room 7")
        return sync(calendar_emulator, warehouse, page_size=30, limit=2).batches

    assert restarted_until_done(run_once, 2) > 5
    assert warehouse.calendar(CAL_ACCOUNT, "primary") == expected_table(calendar)
    assert len(warehouse.events) == len(clean.events) - 1


def test_a_stale_page_token_in_the_cursor_lists_again(calendar_emulator, calendar) -> None:
    warehouse = MemoryWarehouse()
    sync(calendar_emulator, warehouse, page_size=40, limit=2)
    warehouse.cursors[(CAL_ACCOUNT, "gcal", "primary")]["page_token"] = "bm90LWEtdG9rZW4="
    report = sync(calendar_emulator, warehouse, page_size=40)
    assert report.relisted and report.resumed
    assert warehouse.calendar(CAL_ACCOUNT, "primary") == expected_table(calendar)


def test_connections_dying_mid_page_are_retried(calendar_emulator, calendar) -> None:
    calendar_emulator.kill_next(2, "truncate")  # half a page, then the connection closes
    calendar_emulator.kill_next(1, "reset")
    warehouse = MemoryWarehouse()
    report = sync(calendar_emulator, warehouse, page_size=100)
    assert report.stats.transport_errors == 3 and report.stats.retries == 3
    assert calendar_emulator.stats.faults["truncate"] == 2
    assert warehouse.calendar(CAL_ACCOUNT, "primary") == expected_table(calendar)


# ------------------------------------------------------------------ errors and other calendars


def test_an_unknown_calendar_says_what_to_check(calendar_emulator, calendar) -> None:
    with pytest.raises(CalendarSyncError, match="list_calendars"):
        sync(calendar_emulator, MemoryWarehouse(), calendar_id="nope@group.calendar.google.com")


def test_a_secondary_calendar_is_its_own_stream(calendar_emulator, calendar) -> None:
    team_id = "team@group.calendar.google.com"
    team = calendar_emulator.add_calendar(
        CAL_ACCOUNT, StoredCalendar(team_id, time_zone="Europe/Berlin", owner=team_id)
    )
    team.load(
        [
            StoredEvent(
                "teamsync0101",
                datetime(2024, 4, 3, 9, tzinfo=team.zone),
                datetime(2024, 4, 3, 10, tzinfo=team.zone),
                "Europe/Berlin",
                organizer=team_id,
                attendees=[
                    StoredAttendee(team_id, "Team", "accepted", organizer=True),
                    StoredAttendee(CAL_ACCOUNT, "Ana", "accepted"),
                ],
            )
        ]
    )
    warehouse = MemoryWarehouse()
    sync(calendar_emulator, warehouse)
    sync(calendar_emulator, warehouse, calendar_id=team_id)
    assert set(warehouse.calendar(CAL_ACCOUNT, team_id)) == {"teamsync0101"}
    assert warehouse.cursor(CAL_ACCOUNT, team_id, "gcal")["phase"] == "incremental"
    attendees = warehouse.calendar(CAL_ACCOUNT, team_id)["teamsync0101"].attendees
    # Google marks the team calendar's own entry `self` there: it is not the user.
    assert [(a.address, a.is_self) for a in attendees] == [(team_id, False), (CAL_ACCOUNT, True)]
    assert len(warehouse.calendar(CAL_ACCOUNT, "primary")) == 330
