"""The People API calls keepwarm makes, and what each costs in quota.

Two methods: `people.connections.list` on people/me and `contactGroups.list`. The
`personFields` mask names only what keepwarm stores (names, emailAddresses,
organizations, birthdays, events, memberships, metadata): no phone numbers, postal
addresses, notes or photos ever leave Google.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httplib2
from googleapiclient.discovery import Resource
from googleapiclient.http import BatchHttpRequest, HttpRequest

from connectors.google.discovery import build_shipped_service

PERSON_FIELDS = "names,emailAddresses,organizations,birthdays,events,memberships,metadata"
# The "other contacts" Gmail saves by itself hold only names, addresses and phone numbers
# (and photos); keepwarm reads the first two.
OTHER_READ_MASK = "emailAddresses,metadata,names"
GROUP_FIELDS = "name,groupType"
# Google's People API quotas page: read requests are metered per minute per user (90
# "critical read requests" at the time of writing); each call counts once.
PEOPLE_COSTS: Mapping[str, int] = {
    "connections.list": 1, "contactGroups.list": 1, "otherContacts.list": 1,
}
PEOPLE_USER_REQUESTS_PER_MINUTE = 90
PAGE_SIZE = 1000  # the largest page connections.list serves
GROUP_PAGE_SIZE = 1000


def build_people_service(
    credentials: Any = None,
    api_endpoint: str | None = None,
    *,
    http: httplib2.Http | None = None,
) -> Resource:
    """A People v1 client built from the discovery document shipped with the library."""
    return build_shipped_service("people", "v1", credentials, api_endpoint, http=http)


class PeopleApi:
    """The request builders, on resource objects made once."""

    def __init__(self, service: Resource) -> None:
        self.service = service
        self._connections = service.people().connections()
        self._groups = service.contactGroups()
        self._other = service.otherContacts()

    def new_batch(self) -> BatchHttpRequest:
        return self.service.new_batch_http_request()

    def list_connections(
        self, *, sync_token: str | None, page_token: str | None, page_size: int = PAGE_SIZE
    ) -> HttpRequest:
        """One page: a full listing (asking for a sync token) or the changes since one."""
        params: dict[str, Any] = {
            "resourceName": "people/me",
            "personFields": PERSON_FIELDS,
            "pageSize": page_size,
        }
        if sync_token:
            params["syncToken"] = sync_token
        params["requestSyncToken"] = True
        if page_token:
            params["pageToken"] = page_token
        return self._connections.list(**params)

    def list_other_contacts(
        self, *, sync_token: str | None, page_token: str | None, page_size: int = PAGE_SIZE
    ) -> HttpRequest:
        """One page of the other contacts (scope contacts.other.readonly), full or changes."""
        params: dict[str, Any] = {
            "readMask": OTHER_READ_MASK,
            "pageSize": page_size,
            "requestSyncToken": True,
        }
        if sync_token:
            params["syncToken"] = sync_token
        if page_token:
            params["pageToken"] = page_token
        return self._other.list(**params)

    def list_groups(self, page_token: str | None) -> HttpRequest:
        return self._groups.list(
            groupFields=GROUP_FIELDS, pageSize=GROUP_PAGE_SIZE, pageToken=page_token
        )
