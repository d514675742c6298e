"""The Calendar emulator answers as Google documents events.list and calendarList.list.

These pin the rules the connector relies on (and must not break): what may go with a
syncToken, where nextSyncToken appears, what a cancelled event carries, what singleEvents
changes. Requests go through a real googleapiclient client, or raw HTTP where the client
itself would refuse to send them.
"""

from __future__ import annotations

import json
from typing import Any

import httplib2
import pytest
from googleapiclient.errors import HttpError

from connectors.google.retry import error_reason
from tests.emulators.calendar import StoredCalendar, series_id
from tests.emulators.helpers import CAL_ACCOUNT, ana_calendar, calendar_service

pytest_plugins = ["tests.emulators.plugin"]

WEEKLY = series_id("weekly-1on1@keepwarm.test")


@pytest.fixture
def calendar(calendar_emulator: Any) -> StoredCalendar:
    return calendar_emulator.add_calendar(CAL_ACCOUNT, ana_calendar())


@pytest.fixture
def events(calendar_emulator: Any, calendar: StoredCalendar) -> Any:
    return calendar_service(calendar_emulator).events()


def every_page(events: Any, **params: Any) -> list[dict]:
    pages, token = [], None
    while True:
        page = events.list(calendarId="primary", pageToken=token, **params).execute()
        pages.append(page)
        token = page.get("nextPageToken")
        if not token:
            return pages


def refused(request: Any) -> tuple[int, str | None, str]:
    with pytest.raises(HttpError) as info:
        request.execute()
    return info.value.resp.status, error_reason(info.value), str(info.value)


def raw_get(emulator: Any, path: str) -> tuple[int, dict]:
    response, body = httplib2.Http().request(
        emulator.endpoint.rstrip("/") + path, headers={"Authorization": "Bearer test-token"}
    )
    return response.status, json.loads(body)


def test_sync_tokens_refuse_the_parameters_google_refuses(events) -> None:
    token = every_page(events, singleEvents=True)[-1]["nextSyncToken"]
    for extra in (
        {"timeMin": "2024-01-01T00:00:00Z"},
        {"timeMax": "2024-01-01T00:00:00Z"},
        {"orderBy": "updated"},
        {"q": "lunch"},
        {"iCalUID": "weekly-1on1@keepwarm.test"},
        {"updatedMin": "2024-01-01T00:00:00Z"},
    ):
        status, _, text = refused(events.list(calendarId="primary", syncToken=token, **extra))
        assert status == 400 and next(iter(extra)) in text
    status, _, text = refused(events.list(calendarId="primary", syncToken=token, showDeleted=False))
    assert status == 400 and "showDeleted" in text
    # singleEvents and showDeleted=true are allowed, and what the connector sends.
    allowed = events.list(
        calendarId="primary", syncToken=token, singleEvents=True, showDeleted=True
    ).execute()
    assert allowed["items"] == [] and allowed["nextSyncToken"]


def test_an_expired_sync_token_is_gone(events, calendar) -> None:
    token = every_page(events, singleEvents=True)[-1]["nextSyncToken"]
    calendar.expire_sync_tokens()
    assert refused(events.list(calendarId="primary", syncToken=token))[:2] == (
        410,
        "fullSyncRequired",
    )


def test_next_sync_token_only_on_the_last_page(events, calendar) -> None:
    pages = every_page(events, singleEvents=True, maxResults=100)
    assert len(pages) == 4  # 331 instances less two cancelled ones (no showDeleted)
    assert [("nextSyncToken" in p, "nextPageToken" in p) for p in pages] == [
        (False, True),
        (False, True),
        (False, True),
        (True, False),
    ]
    ids = [item["id"] for p in pages for item in p["items"]]
    assert len(ids) == len(set(ids)) == 329


def test_a_page_token_belongs_to_its_query(calendar_emulator, events) -> None:
    first = events.list(calendarId="primary", singleEvents=True, maxResults=10).execute()
    status, _, _ = refused(
        events.list(
            calendarId="primary",
            singleEvents=True,
            showDeleted=True,
            pageToken=first["nextPageToken"],
        )
    )
    assert status == 400


def test_unknown_or_malformed_parameters_are_refused(calendar_emulator, calendar) -> None:
    path = "/calendar/v3/calendars/primary/events"
    status, body = raw_get(calendar_emulator, path + "?singleEvents=true&colour=red")
    assert status == 400 and "colour" in body["error"]["message"]
    status, _ = raw_get(calendar_emulator, path + "?singleEvents=yes")
    assert status == 400
    status, _ = raw_get(calendar_emulator, path + "?timeMin=2024-01-01T00:00:00")  # no offset
    assert status == 400
    status, _ = raw_get(calendar_emulator, path + "?orderBy=startTime")  # needs singleEvents
    assert status == 400


def test_cancelled_events_and_what_they_carry(events) -> None:
    plain = {i["id"] for p in every_page(events, singleEvents=True) for i in p["items"]}
    shown = {
        i["id"]: i
        for p in every_page(events, singleEvents=True, showDeleted=True)
        for i in p["items"]
    }
    assert set(shown) - plain == {
        f"{WEEKLY}_20240129T090000Z",
        series_id("cancelled-lunch@keepwarm.test"),
    }
    # Ana organised the weekly 1:1: her copy of the cancelled instance keeps its details.
    kept = shown[f"{WEEKLY}_20240129T090000Z"]
    assert (
        kept["status"] == "cancelled" and kept["start"]["dateTime"] == "2024-01-29T10:00:00+01:00"
    )
    # Bo organised the lunch: Ana's copy is the id and little else.
    lunch = shown[series_id("cancelled-lunch@keepwarm.test")]
    assert set(lunch) == {"kind", "etag", "id", "status"}


def test_single_events_false_gives_each_series_once(events) -> None:
    items = [i for p in every_page(events) for i in p["items"]]
    weekly = [i for i in items if i["id"].startswith(WEEKLY)]
    # The series itself with its rule, and the instance that was moved.
    assert sorted(i["id"] for i in weekly) == [WEEKLY, f"{WEEKLY}_20240115T090000Z"]
    series = next(i for i in weekly if i["id"] == WEEKLY)
    assert series["recurrence"] == ["RRULE:FREQ=WEEKLY;COUNT=6;BYDAY=MO"]
    assert series["start"]["dateTime"] == "2024-01-08T10:00:00+01:00"
    assert len(items) < 30  # two long series collapse to one item each


def test_window_field_mask_and_max_attendees(events) -> None:
    page = events.list(
        calendarId="primary",
        singleEvents=True,
        timeMin="2024-03-07T14:00:00Z",
        timeMax="2024-03-07T16:00:00Z",
        maxAttendees=2,
        orderBy="startTime",
        fields="items(id,start,attendees(email,self),attendeesOmitted),nextSyncToken",
    ).execute()
    assert set(page) == {"items", "nextSyncToken"}
    # 14:00Z-16:00Z on Mar 7: the daily sync (13:00Z-13:30Z) ends too early, the
    # all-hands (15:00Z) and nothing else starts in it.
    assert [i["id"] for i in page["items"]] == ["allhands20240307"]
    allhands = page["items"][0]
    assert set(allhands) == {"id", "start", "attendees", "attendeesOmitted"}
    assert allhands["attendees"] == [{"email": CAL_ACCOUNT, "self": True}]
    assert allhands["attendeesOmitted"] is True


def test_event_types_filter(events) -> None:
    items = events.list(
        calendarId="primary", singleEvents=True, eventTypes=["birthday", "focusTime"]
    ).execute()["items"]
    starts = {i["eventType"]: i["start"] for i in items}
    assert starts == {
        "birthday": {"date": "2024-03-14"},
        "focusTime": {"dateTime": "2024-03-11T09:00:00+01:00", "timeZone": "Europe/Berlin"},
    }


def test_calendar_list_pages_and_marks_the_primary(calendar_emulator, calendar) -> None:
    for n in range(3):
        calendar_emulator.add_calendar(
            CAL_ACCOUNT, StoredCalendar(f"c{n}@group.calendar.google.com")
        )
    calendar_emulator.add_calendar(
        CAL_ACCOUNT, StoredCalendar("hidden@group.calendar.google.com", hidden=True)
    )
    listing = calendar_service(calendar_emulator).calendarList()
    first = listing.list(maxResults=2).execute()
    rest = listing.list(maxResults=2, pageToken=first["nextPageToken"]).execute()
    entries = first["items"] + rest["items"]
    assert "nextPageToken" not in rest
    assert [e["id"] for e in entries if e.get("primary")] == [CAL_ACCOUNT]
    assert len(entries) == 4  # the hidden one only with showHidden
    assert len(listing.list(showHidden=True).execute()["items"]) == 5


def test_calendar_requests_can_be_batched(calendar_emulator, calendar) -> None:
    service = calendar_service(calendar_emulator)
    answers: dict[str, Any] = {}
    batch = service.new_batch_http_request(callback=lambda rid, r, e: answers.update({rid: r}))
    window = {"timeMin": "2024-02-01T00:00:00Z", "timeMax": "2024-02-02T00:00:00Z"}
    batch.add(service.events().list(calendarId="primary", singleEvents=True, **window))
    batch.add(service.calendarList().list())
    batch.execute()
    assert calendar_emulator.stats.paths["/batch/calendar/v3"] == 1
    assert {i["id"] for i in answers["1"]["items"]} >= {series_id("offsite-2024@keepwarm.test")}
    assert answers["2"]["items"][0]["id"] == CAL_ACCOUNT
