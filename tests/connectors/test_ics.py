"""The .ics reader on the icalendar project's test calendars and one hand-written export.

Recurrence counts and converted times are worked out by hand from the files (the
reasoning is in each test); `tests/fixtures/calendar/README.md` has the expected values
for `keepwarm/ana-work.ics`.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from connectors.records import EventRecord, QuarantineRecord, events_frame
from connectors.takeout import ReadStats, SourceFileError, read_ics

FIXTURES = Path(__file__).parents[1] / "fixtures" / "calendar"
CORPUS = FIXTURES / "icalendar-tests"
ANA = FIXTURES / "keepwarm" / "ana-work.ics"
WIDE = {"window_start": date(1990, 1, 1), "window_end": date(2030, 1, 1)}
YEAR_2024 = {"window_start": date(2024, 1, 1), "window_end": date(2025, 1, 1)}


@pytest.fixture(autouse=True)
def _quiet_tzid_guesses():
    # icalendar warns when it guesses a vendor-prefixed TZID; not what these tests check
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def read_all(path: Path, account: str = "ana@example.com", **kwargs):
    events: list[EventRecord] = []
    quarantine: list[QuarantineRecord] = []
    window = kwargs.pop("window", WIDE)
    for batch in read_ics(path, account, **window, **kwargs):
        events.extend(batch.events)
        quarantine.extend(batch.quarantine)
    return events, quarantine


# --- the hand-written Google-style export ------------------------------------------------


def test_weekly_series_with_exdate_moved_and_cancelled_instances() -> None:
    events, _ = read_all(ANA, window=YEAR_2024)
    weekly = [e for e in events if e.ical_uid == "weekly-1on1@keepwarm.test"]
    # Mondays 10:00 Berlin (09:00Z) from Jan 8, COUNT=6; Jan 22 EXDATE'd.
    assert [e.event_key for e in weekly] == [
        "weekly-1on1@keepwarm.test_20240108T090000Z",
        "weekly-1on1@keepwarm.test_20240115T090000Z",  # original start, though moved
        "weekly-1on1@keepwarm.test_20240129T090000Z",
        "weekly-1on1@keepwarm.test_20240205T090000Z",
        "weekly-1on1@keepwarm.test_20240212T090000Z",
    ]
    moved = weekly[1]
    assert moved.start_at == datetime(2024, 1, 15, 13, 0, tzinfo=UTC)  # 14:00 Berlin
    assert moved.end_at == datetime(2024, 1, 15, 13, 30, tzinfo=UTC)
    assert [e.status for e in weekly] == ["confirmed"] * 2 + ["cancelled"] + ["confirmed"] * 2
    assert {e.recurring_event_id for e in weekly} == {"weekly-1on1@keepwarm.test"}
    assert all(e.source == "ics" and e.calendar_id == "ana-work" for e in weekly)


def test_attendee_mapping() -> None:
    events, _ = read_all(ANA, window=YEAR_2024)
    by_key = {e.event_key: e for e in events}
    first = by_key["weekly-1on1@keepwarm.test_20240108T090000Z"]
    assert first.organizer == "ana@example.com"
    attendees = {a.address: a for a in first.attendees}
    ana = attendees["ana@example.com"]
    assert (ana.is_self, ana.is_organizer, ana.response_status) == (True, True, "accepted")
    bo = attendees["bo.berg@example.org"]  # written Bo.Berg@Example.org
    assert (bo.name, bo.response_status, bo.is_self) == ("Bo Berg", "tentative", False)
    room = attendees["c_room401@resource.calendar.google.com"]
    assert (room.is_resource, room.optional, room.name) == (True, True, "Room 4.01")
    moved = by_key["weekly-1on1@keepwarm.test_20240115T090000Z"]
    assert {a.address: a.response_status for a in moved.attendees}["bo.berg@example.org"] == (
        "declined"
    )
    offsite = by_key["offsite-2024@keepwarm.test"]
    statuses = {
        a.address: (a.response_status, a.optional, a.is_resource, a.is_self)
        for a in offsite.attendees
    }
    assert statuses == {
        "ana@example.com": ("needsAction", True, False, True),
        "dan@example.net": ("declined", False, False, False),  # DELEGATED
        "dev@example.net": ("accepted", False, False, False),
        "projector@resource.example.net": ("accepted", False, True, False),
        "carla@example.net": ("accepted", False, False, False),
    }
    assert [a.is_organizer for a in offsite.attendees] == [False] * 4 + [True]


def test_all_day_floating_conference_and_location() -> None:
    events, quarantine = read_all(ANA, window=YEAR_2024)
    by_key = {e.event_key: e for e in events}
    offsite = by_key["offsite-2024@keepwarm.test"]
    assert offsite.all_day
    assert (offsite.start_at, offsite.end_at) == (
        datetime(2024, 2, 1, tzinfo=UTC),
        datetime(2024, 2, 3, tzinfo=UTC),
    )
    assert (offsite.has_conference, offsite.has_location) == (True, False)  # Zoom URL
    assert offsite.recurring_event_id is None
    lunch = by_key["cancelled-lunch@keepwarm.test"]
    assert lunch.status == "cancelled"
    assert lunch.start_at == datetime(2024, 3, 5, 11, 0, tzinfo=UTC)  # 12:00 X-WR-TIMEZONE
    assert (lunch.has_conference, lunch.has_location) == (True, True)  # Teams in DESCRIPTION
    weekly = by_key["weekly-1on1@keepwarm.test_20240108T090000Z"]
    assert (weekly.has_conference, weekly.has_location) == (True, True)  # X-GOOGLE-CONFERENCE
    assert len(events) == 7
    (broken,) = quarantine
    assert broken.locator == f"{ANA.resolve()}:ends-before-start@keepwarm.test"
    assert broken.reason == "event ends (DTEND) before it starts (DTSTART)"
    assert "SUMMARY:[omitted]" in broken.excerpt
    assert "Broken on purpose" not in broken.excerpt


def test_summary_only_when_opted_in() -> None:
    events, _ = read_all(ANA, window=YEAR_2024)
    assert all(e.summary is None for e in events)
    events, _ = read_all(ANA, window=YEAR_2024, include_summary=True)
    assert {e.summary for e in events} >= {"1:1 Ana / Bo", "1:1 Ana / Bo (moved)", "Lunch"}


def test_window_limits_the_instances_of_series_and_counts_the_earlier_ones() -> None:
    stats = ReadStats()
    window = {"window_start": date(2024, 2, 1), "window_end": date(2024, 2, 10)}
    events, _ = read_all(ANA, window=window, stats=stats)
    # The weekly 1:1 (Mondays from Jan 8, six times, Jan 22 excluded) has only Feb 5 in
    # the window; the two one-off events land whatever their date (the lunch is in March).
    assert sorted(e.event_key for e in events) == [
        "cancelled-lunch@keepwarm.test",
        "offsite-2024@keepwarm.test",
        "weekly-1on1@keepwarm.test_20240205T090000Z",
    ]
    # Left out before the window: Jan 8, Jan 15 (moved to 14:00), Jan 29 (cancelled).
    # Feb 12, after it, is not counted: it comes in as the window moves forward.
    assert stats.outside_window == 3


def test_events_fit_the_frame_schema() -> None:
    events, _ = read_all(ANA, window=YEAR_2024)
    frame = events_frame(events)
    assert frame.height == 7
    assert frame["start_at"].dtype.time_zone == "UTC"


# --- the icalendar corpus: recurrence counted by hand --------------------------------------


def test_daily_count_with_exdates() -> None:
    # DTSTART:19960401T010000 (floating -> UTC), RRULE:FREQ=DAILY;COUNT=100,
    # EXDATE 1996-04-02, 03, 04 at 01:00Z -> 100 - 3 = 97 instances.
    events, quarantine = read_all(CORPUS / "events" / "event_with_recurrence.ics")
    assert quarantine == []
    assert len(events) == 97
    assert events[0].start_at == datetime(1996, 4, 1, 1, 0, tzinfo=UTC)
    assert datetime(1996, 4, 2, 1, 0, tzinfo=UTC) not in {e.start_at for e in events}
    # Apr 1-10 holds Apr 1, 5, 6, 7, 8, 9.
    window = {"window_start": datetime(1996, 4, 1), "window_end": datetime(1996, 4, 10)}
    events, _ = read_all(CORPUS / "events" / "event_with_recurrence.ics", window=window)
    assert [e.start_at.day for e in events] == [1, 5, 6, 7, 8, 9]


def test_weekly_until_with_exdates_on_separate_lines() -> None:
    # Tuesdays 10:00 Europe/Vienna from 2012-03-27 until 2012-07-03T08:00Z (inclusive):
    # 15 Tuesdays; five EXDATE lines (Apr 3, 10, 17, May 1, 29) -> 10.
    path = CORPUS / "events" / "event_with_recurrence_exdates_on_different_lines.ics"
    events, _ = read_all(path)
    assert len(events) == 10
    assert events[0].start_at == datetime(2012, 3, 27, 8, 0, tzinfo=UTC)  # CEST = UTC+2
    assert events[-1].start_at == datetime(2012, 7, 3, 8, 0, tzinfo=UTC)


def test_google_export_weekly_two_days() -> None:
    # Fridays and Saturdays 12:00 America/New_York from Sat 2013-09-07 until
    # 2013-10-25T03:59:59Z: Sep 7, 13, 14, 20, 21, 27, 28, Oct 4, 5, 11, 12, 18, 19 = 13;
    # EXDATE Oct 11 and 12 -> 11. EDT is UTC-4, so 16:00Z.
    events, _ = read_all(CORPUS / "events" / "issue_112_missing_tzinfo_on_exdate.ics")
    assert len(events) == 11
    assert events[0].event_key == "ak30b02u7858q1oo6ji9dm4mgg@google.com_20130907T160000Z"
    assert events[0].start_at == datetime(2013, 9, 7, 16, 0, tzinfo=UTC)
    assert events[0].end_at == datetime(2013, 9, 7, 21, 0, tzinfo=UTC)
    assert events[0].has_location and not events[0].has_conference


def test_custom_vtimezone_converted_to_utc() -> None:
    # DTSTART;TZID=custom_America/New_York:20140829T080000 (EDT, UTC-4)
    events, _ = read_all(CORPUS / "calendars" / "america_new_york.ics")
    assert [(e.start_at, e.end_at) for e in events] == [
        (datetime(2014, 8, 29, 12, 0, tzinfo=UTC), datetime(2014, 8, 29, 14, 0, tzinfo=UTC))
    ]


def test_attendees_from_a_blackberry_invite() -> None:
    # property_params.ics: all-day 2012-08-14, ORGANIZER:mailto:rembrand@daxlab.com,
    # three ATTENDEEs PARTSTAT=NEEDS-ACTION with CN "RembrandXS", "RembrandDX", "RembrandSB"
    events, _ = read_all(CORPUS / "calendars" / "property_params.ics", account="rembspam@xs4all.nl")
    (event,) = events
    assert event.all_day and event.start_at == datetime(2012, 8, 14, tzinfo=UTC)
    assert event.organizer == "rembrand@daxlab.com"
    assert [
        (a.address, a.name, a.response_status, a.is_organizer, a.is_self) for a in event.attendees
    ] == [
        ("rembrand@xs4all.nl", "RembrandXS", "needsAction", False, False),
        ("rembrand@daxlab.com", "RembrandDX", "needsAction", True, False),
        ("rembspam@xs4all.nl", "RembrandSB", "needsAction", False, True),
    ]


def test_accepted_attendee_from_lotus_notes() -> None:
    # ATTENDEE;CN="XYZ";PARTSTAT=ACCEPTED;ROLE=CHAIR (folded mid-parameter)
    path = CORPUS / "calendars" / "issue_156_RDATE_with_PERIOD_TZID_khal.ics"
    events, _ = read_all(path)
    assert [(a.address, a.name, a.response_status) for e in events for a in e.attendees] == [
        ("xyz@xyz.com", "XYZ", "accepted")
    ]


def test_alarm_attendees_are_not_event_attendees() -> None:
    events, _ = read_all(CORPUS / "calendars" / "alarm_google_future.ics")
    (event,) = events
    assert event.attendees == []
    assert event.event_key == "79fs7pkqvht9m5igs0vjv1sfra@google.com"


def test_every_corpus_file_parses_or_quarantines() -> None:
    files = sorted(CORPUS.glob("*/*.ics"))
    assert len(files) == 150
    outcome: Counter[str] = Counter()
    for path in files:
        stats = ReadStats()
        events, quarantine = read_all(path, stats=stats)
        assert stats.events == len(events) and stats.quarantined == len(quarantine)
        for record in quarantine:
            assert record.locator.startswith(f"{path.resolve()}:")
            assert record.reason and record.kind == "event"
        if path.name.startswith(("broken_", "fuzz_")):
            assert quarantine, f"{path.name} should be quarantined"
        if not events and not quarantine:
            # only time zones, to-dos, free/busy or nothing: no VEVENT was dropped
            assert b"BEGIN:VEVENT" not in path.read_bytes().upper(), path.name
        outcome["events" if events else "quarantined" if quarantine else "empty"] += 1
    assert outcome == {"events": 83, "quarantined": 49, "empty": 18}


def test_one_broken_series_does_not_take_the_file_down() -> None:
    # parsing_error.ics: a daily series with a broken EXDATE next to a good one
    events, quarantine = read_all(CORPUS / "calendars" / "parsing_error.ics")
    assert len(events) == 20
    (bad,) = quarantine
    assert bad.locator.endswith(":#1")
    assert "EXDATE" in bad.reason


def test_quarantine_reasons_for_typical_breakage() -> None:
    def reasons(name: str) -> list[str]:
        return [q.reason for q in read_all(CORPUS / "calendars" / name)[1]]

    assert reasons("broken_ical.ics") == ["event has no DTSTART (start time)"]
    assert reasons("pacific_fiji.ics") == ["DTSTART appears more than once in one event"]
    assert reasons("small_bad_calendar.ics") == [
        "no complete calendar component (an END: line is missing)"
    ]
    assert reasons("issue_1081_invalid_rrule_freq.ics")[0].startswith("invalid recurrence rule")
    assert reasons("fuzz_testcase_invalid_month.ics")[0].startswith("not a valid iCalendar file")


# --- cursors and errors -------------------------------------------------------------------


def test_cursor_skips_an_unchanged_file(tmp_path: Path) -> None:
    path = Path(shutil.copyfile(ANA, tmp_path / "ana.ics"))
    batches = list(read_ics(path, "ana@example.com", **YEAR_2024))
    cursor = batches[-1].cursor
    assert (cursor.source, cursor.stream) == ("ics", str(path.resolve()))
    stats = ReadStats()
    assert list(read_ics(path, "ana@example.com", cursor=cursor, stats=stats, **YEAR_2024)) == []
    assert stats.skipped_unchanged == 1


def test_cursor_rereads_for_a_new_window_or_new_content(tmp_path: Path) -> None:
    path = Path(shutil.copyfile(ANA, tmp_path / "ana.ics"))
    cursor = list(read_ics(path, "ana@example.com", **YEAR_2024))[-1].cursor
    later = {"window_start": date(2024, 2, 1), "window_end": date(2025, 1, 1)}
    events = [
        e for b in read_ics(path, "ana@example.com", cursor=cursor, **later) for e in b.events
    ]
    assert len(events) == 4  # Feb 5, Feb 12, the offsite, the lunch
    # touched but identical: no events, a refreshed cursor
    os.utime(path, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    touched = list(read_ics(path, "ana@example.com", cursor=cursor, **YEAR_2024))
    assert [len(b.events) for b in touched] == [0]
    assert touched[0].cursor.value["mtime_ns"] == 1_700_000_000_000_000_000
    # changed content: read again in full
    path.write_bytes(ANA.read_bytes().replace(b"SUMMARY:Lunch", b"SUMMARY:Lunch!"))
    again = [
        e for b in read_ics(path, "ana@example.com", cursor=cursor, **YEAR_2024) for e in b.events
    ]
    assert len(again) == 7


def test_a_cursor_from_before_one_off_events_were_kept_rereads_the_file(tmp_path: Path) -> None:
    # Until the window bounded series only, it dropped one-off events too: a file read
    # then is read again, although its size, mtime and window are unchanged.
    path = Path(shutil.copyfile(ANA, tmp_path / "ana.ics"))
    cursor = list(read_ics(path, "ana@example.com", **YEAR_2024))[-1].cursor.value
    old = {k: v for k, v in cursor.items() if k not in ("window_bounds", "outside_window")}
    events = [e for b in read_ics(path, "ana@example.com", cursor=old, **YEAR_2024)
              for e in b.events]
    assert len(events) == 7


def test_large_file_batches_mark_incomplete_cursors() -> None:
    batches = list(
        read_ics(CORPUS / "calendars" / "x_location.ics", "a@b", batch_size=1000, **WIDE)
    )
    assert [len(b.events) for b in batches] == [1000, 1000, 1000, 437]
    assert [b.cursor.value["complete"] for b in batches] == [False, False, False, True]


OUTLOOK_OOF = """BEGIN:VCALENDAR
PRODID:-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN
VERSION:2.0
BEGIN:VEVENT
UID:pto-1@example.com
DTSTART;VALUE=DATE:20240401
DTEND;VALUE=DATE:20240403
SUMMARY:PTO
TRANSP:OPAQUE
X-MICROSOFT-CDO-BUSYSTATUS:OOF
END:VEVENT
BEGIN:VEVENT
UID:weekly-oof@example.com
DTSTART:20240402T150000Z
DTEND:20240402T160000Z
RRULE:FREQ=WEEKLY;COUNT=2
X-MICROSOFT-CDO-BUSYSTATUS:oof
END:VEVENT
BEGIN:VEVENT
UID:review-1@example.com
DTSTART:20240402T090000Z
DTEND:20240402T100000Z
SUMMARY:Review
X-MICROSOFT-CDO-BUSYSTATUS:BUSY
END:VEVENT
BEGIN:VEVENT
UID:holiday-1@example.com
DTSTART;VALUE=DATE:20240404
SUMMARY:Free all-day reminder
TRANSP:TRANSPARENT
CATEGORIES:Holiday
X-MICROSOFT-CDO-BUSYSTATUS:FREE
END:VEVENT
END:VCALENDAR
"""


def test_event_type_out_of_office_from_outlook_busy_status(tmp_path: Path) -> None:
    path = tmp_path / "outlook.ics"
    path.write_text(OUTLOOK_OOF.replace("\n", "\r\n"))
    events, quarantine = read_all(path, window=YEAR_2024)
    assert quarantine == []
    assert {e.event_key: e.event_type for e in events} == {
        "pto-1@example.com": "outOfOffice",
        "weekly-oof@example.com_20240402T150000Z": "outOfOffice",
        "weekly-oof@example.com_20240409T150000Z": "outOfOffice",
        # availability and the user's own categories are not event types
        "review-1@example.com": "default",
        "holiday-1@example.com": "default",
    }


def test_event_type_is_default_without_a_marker() -> None:
    # The hand-written Google-style export and every real calendar in the corpus (Google,
    # Outlook, Thunderbird, ...) carry no out-of-office marker.
    events, _ = read_all(ANA, window=YEAR_2024)
    for path in sorted(CORPUS.rglob("*.ics")):
        events += read_all(path)[0]
    assert events
    assert {e.event_type for e in events} == {"default"}


def test_errors() -> None:
    with pytest.raises(SourceFileError, match=r"missing\.ics: no such file"):
        list(read_ics(FIXTURES / "missing.ics", "a@b", **WIDE))
    with pytest.raises(ValueError, match="window_end"):
        list(read_ics(ANA, "a@b", window_start=date(2025, 1, 1), window_end=date(2024, 1, 1)))
