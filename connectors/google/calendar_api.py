"""The Google Calendar API calls keepwarm makes, and what each costs in quota.

Two methods: `calendarList.list` (which calendars the user has) and `events.list`. Every
events.list request expands recurring events into instances (`singleEvents=true`) and
includes cancelled ones (`showDeleted=true`), on the full sync and on the incremental
syncs after it alike: Google asks that a `syncToken` request repeat the parameters of
the sync that issued the token, except the ones it forbids with a token (timeMin,
timeMax, orderBy, q, iCalUID, updatedMin, the extended-property filters), and forbids
showDeleted=false with one. The `fields` masks keep descriptions, attachments and
reminders off the wire; the location text is read only to tell a room from a video link.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httplib2
from googleapiclient.discovery import Resource
from googleapiclient.http import BatchHttpRequest, HttpRequest

from connectors.google.discovery import build_shipped_service

# Google's Calendar "Usage limits" page (developers.google.com/workspace/calendar/api/
# guides/quota): 600 requests per minute per user per project, every method counted as
# one request. The limiter meters requests as units of 1.
CALENDAR_COSTS: Mapping[str, int] = {"calendarList.list": 1, "events.list": 1}
CALENDAR_USER_REQUESTS_PER_MINUTE = 600

PAGE_SIZE = 2500  # the largest page events.list serves; fewer requests, same quota per page
CALENDAR_LIST_PAGE_SIZE = 250  # the largest page calendarList.list serves

_EVENT_FIELDS = (
    "id,status,start,end,iCalUID,recurringEventId,organizer(email),"
    "attendees(email,displayName,responseStatus,self,organizer,optional,resource),"
    "attendeesOmitted,hangoutLink,conferenceData(conferenceId,entryPoints(entryPointType)),"
    "location,eventType,birthdayProperties(contact)"
)
# What the prune after a resync needs: which ids Google still lists in the window.
_PRESENCE_FIELDS = "id"
_CALENDAR_FIELDS = "items(id,summary,primary,accessRole,timeZone),nextPageToken"


def build_calendar_service(
    credentials: Any = None,
    api_endpoint: str | None = None,
    *,
    http: httplib2.Http | None = None,
) -> Resource:
    """A Calendar v3 client built from the discovery document shipped with the library.

    Args:
        credentials: google-auth credentials with `CALENDAR_SCOPES` (a user token or a
            delegated service account).
        api_endpoint: another root URL, e.g. "http://127.0.0.1:8765/" for the emulator.
        http: an httplib2.Http to use instead of credentials (tests).
    """
    return build_shipped_service("calendar", "v3", credentials, api_endpoint, http=http)


def rfc3339(moment: datetime) -> str:
    """An aware datetime as the UTC timestamp events.list takes for timeMin/timeMax."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class CalendarApi:
    """The request builders, on resource objects made once (each costs ~2 ms to make)."""

    def __init__(self, service: Resource) -> None:
        self.service = service
        self._events = service.events()
        self._calendar_list = service.calendarList()

    def new_batch(self) -> BatchHttpRequest:
        return self.service.new_batch_http_request()

    def list_events(
        self,
        calendar_id: str,
        *,
        window: tuple[datetime, datetime] | None = None,
        sync_token: str | None = None,
        page_token: str | None = None,
        page_size: int = PAGE_SIZE,
        include_summary: bool = False,
        presence_only: bool = False,
    ) -> HttpRequest:
        """One page of instances: in `window` (a full sync) or changed since `sync_token`.

        Args:
            presence_only: ask for ids only (the prune's listing).
        """
        if (window is None) == (sync_token is None):
            raise ValueError("give exactly one of window (full sync) and sync_token")
        item_fields = _PRESENCE_FIELDS if presence_only else _EVENT_FIELDS
        if include_summary and not presence_only:
            item_fields += ",summary"
        params: dict[str, Any] = {
            "calendarId": calendar_id,
            "singleEvents": True,
            "showDeleted": True,
            "maxResults": page_size,
            "fields": f"items({item_fields}),nextPageToken,nextSyncToken",
        }
        if window is not None:
            params["timeMin"] = rfc3339(window[0])
            params["timeMax"] = rfc3339(window[1])
        else:
            params["syncToken"] = sync_token
        if page_token:
            params["pageToken"] = page_token
        return self._events.list(**params)

    def list_calendars(self, page_token: str | None) -> HttpRequest:
        return self._calendar_list.list(
            maxResults=CALENDAR_LIST_PAGE_SIZE, pageToken=page_token, fields=_CALENDAR_FIELDS
        )
