"""The Gmail API calls keepwarm makes, and what each costs in quota units.

Only metadata is read: the `gmail.metadata` scope forbids `q` and `format=full/raw`, and
the `fields` masks below keep even snippets off the wire.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httplib2
from googleapiclient.discovery import Resource
from googleapiclient.http import BatchHttpRequest, HttpRequest

from connectors.google.discovery import build_shipped_service

# Per-method quota units and the per-user ceiling from Google's Gmail "Usage limits"
# page (developers.google.com/workspace/gmail/api/reference/quota), as they apply to
# Cloud projects that used the API before May 2026: 15,000 units per user per minute.
GMAIL_COSTS: Mapping[str, int] = {
    "users.getProfile": 1,
    "messages.list": 5,
    "messages.get": 5,
    "threads.get": 10,
    "history.list": 2,
}
GMAIL_USER_UNITS_PER_MINUTE = 15_000

# Projects created on or after 1 May 2026 get 6,000 units per user per minute (Google's
# page). Their method costs were raised too; messages.get 20 and threads.get 40 come from
# a third-party summary of the new table, getProfile is assumed unchanged. The ratio
# threads.get = 2 x messages.get, which decides the fetch strategy, is the same in both.
GMAIL_COSTS_2026: Mapping[str, int] = {
    "users.getProfile": 1,
    "messages.list": 5,
    "messages.get": 20,
    "threads.get": 40,
    "history.list": 2,
}
GMAIL_USER_UNITS_PER_MINUTE_2026 = 6_000

METADATA_HEADERS = (
    "From",
    "To",
    "Cc",
    "Bcc",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "List-Id",
    "List-Unsubscribe",
    "Precedence",
    "Auto-Submitted",
)
HISTORY_TYPES = ("messageAdded", "messageDeleted", "labelAdded", "labelRemoved")
PAGE_SIZE = 500  # the maximum for messages.list and history.list

_MESSAGE_FIELDS = "id,threadId,labelIds,internalDate,payload/headers"


def build_gmail_service(
    credentials: Any = None,
    api_endpoint: str | None = None,
    *,
    http: httplib2.Http | None = None,
) -> Resource:
    """A Gmail v1 client built from the shipped discovery document."""
    return build_shipped_service("gmail", "v1", credentials, api_endpoint, http=http)


class GmailApi:
    """The request builders, on resource objects made once.

    googleapiclient rebuilds every method of a resource each time `service.users()` or
    `.messages()` is called (about 2 ms); a sync makes thousands of requests.
    """

    def __init__(self, service: Resource) -> None:
        self.service = service
        self._users = service.users()
        self._messages = self._users.messages()
        self._threads = self._users.threads()
        self._history = self._users.history()

    def new_batch(self) -> BatchHttpRequest:
        """An empty batch aimed at the service's own batch endpoint."""
        return self.service.new_batch_http_request()

    def get_profile(self) -> HttpRequest:
        return self._users.getProfile(userId="me")

    def list_messages(self, page_token: str | None, *, ids_only: bool = False) -> HttpRequest:
        """One page of every message id, spam and trash included (the model reads labels)."""
        return self._messages.list(
            userId="me",
            includeSpamTrash=True,
            maxResults=PAGE_SIZE,
            pageToken=page_token,
            fields="messages(id),nextPageToken"
            if ids_only
            else "messages(id,threadId),nextPageToken",
        )

    def get_message(self, message_id: str, headers: Sequence[str]) -> HttpRequest:
        return self._messages.get(
            userId="me",
            id=message_id,
            format="metadata",
            metadataHeaders=list(headers),
            fields=_MESSAGE_FIELDS,
        )

    def get_thread(self, thread_id: str, headers: Sequence[str]) -> HttpRequest:
        return self._threads.get(
            userId="me",
            id=thread_id,
            format="metadata",
            metadataHeaders=list(headers),
            fields=f"id,messages({_MESSAGE_FIELDS})",
        )

    def list_history(self, start_history_id: str, page_token: str | None) -> HttpRequest:
        return self._history.list(
            userId="me",
            startHistoryId=start_history_id,
            historyTypes=list(HISTORY_TYPES),
            maxResults=PAGE_SIZE,
            pageToken=page_token,
        )
