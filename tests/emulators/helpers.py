"""Helpers for tests that use the emulators: corpus files, mailboxes, calendars, clients."""

from __future__ import annotations

import copy
import functools
import warnings
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from google.oauth2.credentials import Credentials

from connectors.google.calendar import sync_calendar
from connectors.google.calendar_api import build_calendar_service
from connectors.google.gmail_api import build_gmail_service
from connectors.google.quota import QuotaLimiter
from tests.emulators.calendar import (
    CalendarEmulator,
    StoredAttendee,
    StoredCalendar,
    StoredEvent,
    events_from_ics,
    series_id,
)
from tests.emulators.gmail import GmailEmulator, GmailMailbox

_TESTS = Path(__file__).resolve().parents[1]
# The shared real-world corpora (../shared/data from the project), else the small copies
# kept under tests/fixtures/ (with their attribution beside them).
MAIL_DIRS = (
    _TESTS.parent.parent / "shared" / "data" / "mail",
    _TESTS / "fixtures" / "mail",
    _TESTS / "fixtures" / "gmail",
)
TAKEOUT_MBOX = "emailnetwork-takeout-sample.mbox"
HAM_MBOX = "spamassassin-easy-ham-1.mbox"
ACCOUNT = "samuelchan@gmail.com"


def mail_path(name: str) -> Path:
    """The first copy of a corpus file found; skips the test when there is none.

    The full SpamAssassin corpus lives only in ../shared (a fresh clone has a 300-message
    slice, too small for the threading and resume tests written for it), so those tests
    skip there and run in CI and the dev workspace.
    """
    for directory in MAIL_DIRS:
        candidate = directory / name
        if candidate.exists():
            return candidate
    pytest.skip(f"{name} is not available under {[str(d) for d in MAIL_DIRS]}")
    raise AssertionError  # unreachable


@functools.lru_cache(maxsize=8)
def _loaded(path: str, address: str) -> GmailMailbox:
    return GmailMailbox.from_mbox(path, address)


def mbox_mailbox(name: str, address: str = ACCOUNT) -> GmailMailbox:
    """A fresh mailbox loaded from a corpus mbox (parsed once per session, then copied)."""
    return _loaded(str(mail_path(name)), address).copy()


def stored_token(emulator: Any, token: str | None = "t",
                 scopes: list[str] | None = None) -> Credentials:
    """A user token as `keepwarm auth google` stores it: an access token (None: expired
    and not yet refreshed) and a refresh token that the emulator's `/token` exchanges for
    a new access token, as Google's does."""
    return Credentials(token=token, refresh_token="refresh-secret-value",
                       token_uri=emulator.endpoint + "token",
                       client_id="cid.apps.googleusercontent.com",
                       client_secret="client-secret-value", scopes=scopes)


def gmail_service(emulator: GmailEmulator, token: str = "test-token") -> Any:
    """A real googleapiclient Gmail client pointed at the emulator."""
    return build_gmail_service(Credentials(token=token), emulator.endpoint)


# --------------------------------------------------------------------------- Calendar

CAL_ACCOUNT = "ana@example.com"
CALENDAR_FIXTURES = _TESTS / "fixtures" / "calendar"
ANA_ICS = CALENDAR_FIXTURES / "keepwarm" / "ana-work.ics"
# A Google Calendar export (weekday series from 2016) and a weekly series whose TZID has
# a leading slash, from the icalendar project's test calendars.
VOLUME_ICS = (
    CALENDAR_FIXTURES / "icalendar-tests" / "calendars" / "x_location.ics",
    CALENDAR_FIXTURES / "icalendar-tests" / "calendars" / "issue_466_convert_tzid_with_slash.ics",
)
CAL_WINDOW = (datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC))
BERLIN = ZoneInfo("Europe/Berlin")


def _at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2024, month, day, hour, minute, tzinfo=BERLIN)


def gcal_only_events() -> list[StoredEvent]:
    """Events only the API has: event types, big meetings, rooms, omitted attendees.

    Hand-written (the public .ics files have none of these); what the model must make of
    each is in its `summary`.
    """
    me = StoredAttendee(CAL_ACCOUNT, "Ana Example", "accepted", organizer=True)
    birthday_series = series_id("birthday-bo")
    crowd = [StoredAttendee(f"colleague{n:02d}@example.com", None, "accepted") for n in range(24)]
    return [
        StoredEvent(
            f"{birthday_series}_20240314",
            date(2024, 3, 14),
            date(2024, 3, 15),
            event_type="birthday",
            birthday_contact="people/c_bo",
            summary="Bo Berg's birthday (key date, not a meeting)",
            recurring_event_id=birthday_series,
            original_start=date(2024, 3, 14),
            recurrence=["RRULE:FREQ=YEARLY"],
            ical_uid="birthday-bo@keepwarm.test",
        ),
        StoredEvent(
            "focus20240311",
            _at(11, 9),
            _at(11, 11),
            "Europe/Berlin",
            event_type="focusTime",
            summary="Focus time (not a meeting)",
            organizer=CAL_ACCOUNT,
        ),
        StoredEvent(
            "ooo20240318",
            _at(18, 0),
            _at(23, 0),
            "Europe/Berlin",
            event_type="outOfOffice",
            summary="Out of office (not a meeting)",
            organizer=CAL_ACCOUNT,
        ),
        StoredEvent(
            "workloc20240312",
            date(2024, 3, 12),
            date(2024, 3, 13),
            event_type="workingLocation",
            summary="Home (not a meeting)",
            organizer=CAL_ACCOUNT,
        ),
        StoredEvent(
            "allhands20240307",
            _at(7, 16),
            _at(7, 17),
            "Europe/Berlin",
            summary="All-hands: 26 people (not personal time)",
            organizer="ceo@example.com",
            attendees=[
                StoredAttendee(CAL_ACCOUNT, "Ana Example", "accepted"),
                StoredAttendee("ceo@example.com", "The CEO", "accepted", organizer=True),
                *crowd,
            ],
            hangout_link="https://meet.google.com/all-hands-now",
        ),
        StoredEvent(
            "roomonly20240308",
            _at(8, 10),
            _at(8, 10, 30),
            "Europe/Berlin",
            summary="Room booked for myself (nobody else)",
            location="Room 4.01",
            organizer=CAL_ACCOUNT,
            attendees=[
                me,
                StoredAttendee(
                    "c_room401@resource.calendar.google.com", "Room 4.01", "accepted", resource=True
                ),
            ],
        ),
        StoredEvent(
            "declined20240306",
            _at(6, 15),
            _at(6, 15, 30),
            "Europe/Berlin",
            summary="1:1 Cara, declined by me (noise)",
            organizer="cara@example.net",
            attendees=[
                StoredAttendee(CAL_ACCOUNT, "Ana Example", "declined"),
                StoredAttendee("cara@example.net", "Cara", "accepted", organizer=True),
            ],
            conference_id="abc-mnop-xyz",
        ),
        StoredEvent(
            "lunch20240305",
            _at(5, 12),
            _at(5, 13),
            "Europe/Berlin",
            summary="Lunch with Dev (a one-on-one in person)",
            location="Café Einstein, Berlin",
            organizer=CAL_ACCOUNT,
            attendees=[me, StoredAttendee("Dev@Example.net", "Dev", "accepted")],
        ),
        StoredEvent(
            "webinar20240313",
            _at(13, 18),
            _at(13, 19),
            "Europe/Berlin",
            summary="Webinar: the guest list is hidden",
            organizer="host@events.example.org",
            attendees=[StoredAttendee(CAL_ACCOUNT, None, "accepted")],
            attendees_omitted=True,
            location="https://zoom.us/j/987654321",
        ),
        StoredEvent(
            "flight20240402",
            _at(2, 8, month=4),
            _at(2, 10, month=4),
            "Europe/Berlin",
            event_type="fromGmail",
            summary="Flight BER-LIS (from a Gmail booking)",
            organizer="unknownorganizer@calendar.google.com",
        ),
    ]


@functools.lru_cache(maxsize=4)
def _ics_events(path: str, owner: str, window: tuple[datetime, datetime]) -> list[StoredEvent]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # icalendar's guesses at vendor TZIDs
        return events_from_ics(path, owner, window=window)


def ana_calendar(*, volume: bool = True, window: tuple[datetime, datetime] = CAL_WINDOW):
    """Ana's primary calendar: ana-work.ics, the API-only events, and (with `volume`) the
    two public calendars' series, a few hundred instances in all. A fresh copy each time.
    """
    calendar = StoredCalendar(CAL_ACCOUNT, primary=True, time_zone="Europe/Berlin")
    paths = (ANA_ICS, *(VOLUME_ICS if volume else ()))
    for path in paths:
        calendar.load(copy.deepcopy(_ics_events(str(path), CAL_ACCOUNT, window)))
    calendar.load(gcal_only_events())
    return calendar


def calendar_service(emulator: CalendarEmulator, token: str = "test-token") -> Any:
    """A real googleapiclient Calendar client pointed at the emulator."""
    return build_calendar_service(Credentials(token=token), emulator.endpoint)


def sync_primary(service: Any, cursor: dict | None = None, **kwargs: Any) -> Any:
    """`sync_calendar` of Ana's primary calendar over CAL_WINDOW, without a quota limit
    unless `limiter` is given; other keyword arguments go to sync_calendar."""
    kwargs.setdefault("limiter", QuotaLimiter.for_ceiling(10**9))
    kwargs.setdefault("window_start", CAL_WINDOW[0])
    kwargs.setdefault("window_end", CAL_WINDOW[1])
    return sync_calendar(service, CAL_ACCOUNT, "primary", cursor, **kwargs)
