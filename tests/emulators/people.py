"""A local People API: connections.list on people/me and contactGroups.list.

What it models, as Google documents it:

* `personFields` is required and names the person fields returned (anything else in
  the stored resource, such as phone numbers, is left out); the emulator records every
  mask it was sent, so tests can check keepwarm never asks for more.
* paging with `pageSize` (default 100, at most 1000) and opaque page tokens bound to the
  query; `requestSyncToken=true` puts `nextSyncToken` on the last page.
* `syncToken` returns only people changed since the token, deleted ones as
  `{resourceName, etag, metadata: {deleted: true}}`; `expire_sync_tokens()` makes every
  token issued so far answer 400 FAILED_PRECONDITION with reason EXPIRED_SYNC_TOKEN (in
  `error.details`, as the People API sends it), as Google does 7 days after a full sync.
* the first page of a full listing has its own per-minute quota
  (`full_sync_first_pages_per_minute`); past it the call answers 429.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from tests.emulators.http import (
    QUOTA_EXCEEDED,
    ApiReply,
    FaultPlan,
    GoogleApiEmulator,
    QuotaMeter,
    Route,
    bad_request,
    discovery_routes,
    query_flag,
    query_value,
)

CONTACTS_SCOPE = "https://www.googleapis.com/auth/contacts.readonly"
OTHER_CONTACTS_SCOPE = "https://www.googleapis.com/auth/contacts.other.readonly"
_METHODS = ("people.connections.list", "contactGroups.list", "otherContacts.list")
# What otherContacts.list's readMask may name for the contact source.
OTHER_FIELD_NAMES = frozenset({"emailAddresses", "metadata", "names", "phoneNumbers", "photos"})
PERSON_FIELD_NAMES = frozenset(
    {
        "addresses", "ageRanges", "biographies", "birthdays", "calendarUrls", "clientData",
        "coverPhotos", "emailAddresses", "events", "externalIds", "genders", "imClients",
        "interests", "locales", "locations", "memberships", "metadata", "miscKeywords",
        "names", "nicknames", "occupations", "organizations", "phoneNumbers", "photos",
        "relations", "sipAddresses", "skills", "urls", "userDefined",
    }
)  # fmt: skip

EXPIRED_SYNC_TOKEN = (
    400,
    {
        "error": {
            "code": 400,
            "message": "Sync token is expired. Clear local cache and retry call without "
            "the sync token.",
            "status": "FAILED_PRECONDITION",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "EXPIRED_SYNC_TOKEN",
                    "domain": "people.googleapis.com",
                }
            ],
        }
    },
)


@dataclass
class StoredPerson:
    """One contact: its resource (every field Google could hold) and when it changed."""

    resource_name: str
    fields: dict[str, Any]
    changed: int = 0
    deleted: bool = False

    @property
    def etag(self) -> str:
        return f"%E{self.changed}"

    def resource(self, wanted: set[str]) -> dict[str, Any]:
        if self.deleted:
            return {
                "resourceName": self.resource_name,
                "etag": self.etag,
                "metadata": {"deleted": True},
            }
        out: dict[str, Any] = {"resourceName": self.resource_name, "etag": self.etag}
        for name in sorted(wanted):
            if name == "metadata":
                out["metadata"] = {"sources": [{"type": "CONTACT", "id": self.resource_name}]}
            elif name in self.fields:
                out[name] = copy.deepcopy(self.fields[name])
        return out


@dataclass
class AddressBook:
    """One account's contacts and groups; every change takes the next serial."""

    owner: str
    people: dict[str, StoredPerson] = field(default_factory=dict)
    # "Other contacts": saved by Gmail, listed by otherContacts.list.
    other: dict[str, StoredPerson] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    serial: int = 0
    min_sync_serial: int = 0

    def put(self, resource_name: str, fields: dict[str, Any]) -> StoredPerson:
        self.serial += 1
        person = StoredPerson(resource_name, copy.deepcopy(fields), self.serial)
        self.people[resource_name] = person
        return person

    def delete(self, resource_name: str) -> None:
        self.serial += 1
        person = (self.other if resource_name.startswith("otherContacts/") else
                  self.people)[resource_name]
        person.deleted, person.changed = True, self.serial

    def put_other(self, resource_name: str, fields: dict[str, Any]) -> StoredPerson:
        self.serial += 1
        person = StoredPerson(resource_name, copy.deepcopy(fields), self.serial)
        self.other[resource_name] = person
        return person

    def add_group(self, resource_name: str, name: str, group_type: str = "USER_CONTACT_GROUP"):
        self.groups[resource_name] = {
            "resourceName": resource_name,
            "name": name,
            "formattedName": name,
            "groupType": group_type,
        }

    def expire_sync_tokens(self) -> None:
        self.serial += 1
        self.min_sync_serial = self.serial


class PeopleEmulator(GoogleApiEmulator):
    def __init__(
        self,
        *,
        units_per_minute: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        faults: FaultPlan | None = None,
        scopes: Iterable[str] = (CONTACTS_SCOPE,),
        full_sync_first_pages_per_minute: int | None = None,
    ) -> None:
        super().__init__(
            units_per_minute=units_per_minute, clock=clock, faults=faults, scopes=scopes
        )
        self.books: dict[str, AddressBook] = {}
        self.routes = discovery_routes("people", "v1", _METHODS)
        self.first_pages = QuotaMeter(full_sync_first_pages_per_minute, clock)
        self.person_fields_seen: list[str] = []
        self.first_page_rejections = 0

    def add_book(self, book: AddressBook, token: str | None = None) -> AddressBook:
        self.books[book.owner] = book
        self.meter(book.owner)
        if token:
            self.grant(token, book.owner)
        return book

    def accounts(self) -> Collection[str]:
        return self.books.keys()

    def cost(self, route: Route) -> int:
        return 1

    def check(self, account: str, route: Route, query: dict[str, list[str]]) -> None:
        if route.method_id != "people.people.connections.list":
            return
        full_first = "syncToken" not in query and not query_value(query, "pageToken")
        if full_first and not self.first_pages.charge(1):
            with self.lock:
                self.first_page_rejections += 1
            raise ApiReply(*QUOTA_EXCEEDED)

    def answer(
        self, account: str, route: Route, args: dict[str, str], query: dict[str, list[str]]
    ) -> dict[str, Any]:
        book = self.books[account]
        if route.method_id == "people.contactGroups.list":
            groups = [book.groups[k] for k in sorted(book.groups)]
            return {"contactGroups": copy.deepcopy(groups), "totalItems": len(groups)}
        if route.method_id == "people.otherContacts.list":
            mask = query_value(query, "readMask")
            if not mask:
                raise bad_request("readMask is required. Please specify one or more valid "
                                  "paths.")  # fmt: skip
            wanted = set(mask.split(","))
            if wanted - OTHER_FIELD_NAMES:
                raise bad_request(f"Invalid readMask path: {sorted(wanted - OTHER_FIELD_NAMES)}")
            with self.lock:
                self.person_fields_seen.append(mask)
            return self._connections(book, query, wanted, book.other, "otherContacts")
        if args.get("resourceName") != "people/me":
            raise bad_request("Must be a person resource name of the form people/me.")
        fields = query_value(query, "personFields")
        if not fields:
            raise bad_request("personFields mask is required. Please specify one or more "
                              "valid paths.")  # fmt: skip
        wanted = set(fields.split(","))
        if wanted - PERSON_FIELD_NAMES:
            raise bad_request(
                f"Invalid personFields mask path: {sorted(wanted - PERSON_FIELD_NAMES)}"
            )
        with self.lock:
            self.person_fields_seen.append(fields)
        return self._connections(book, query, wanted)

    def _connections(
        self, book: AddressBook, query: dict[str, list[str]], wanted: set[str],
        people: dict[str, StoredPerson] | None = None, key: str = "connections",
    ) -> dict[str, Any]:
        people = book.people if people is None else people
        sync_token = query_value(query, "syncToken")
        since: int | None = None
        if sync_token is not None:
            token = _decode(sync_token)
            if token.get("owner") != book.owner:
                raise bad_request("Invalid sync token.")
            if token["serial"] < book.min_sync_serial:
                raise ApiReply(*EXPIRED_SYNC_TOKEN)
            since = int(token["serial"])
        size = max(1, min(int(query_value(query, "pageSize", "100") or 100), 1000))
        signature = _signature(query)
        page_token = query_value(query, "pageToken")
        if page_token:
            position = _decode(page_token)
            if position.get("sig") != signature:
                raise bad_request("Page token does not match the request.")
            as_of, after = int(position["as_of"]), position["after"]
        else:
            as_of, after = book.serial, None
        # A listing pages over the book as it was when it began (as_of): a person
        # changed later is served by the next sync token, not mid-listing.
        matching = sorted(
            name
            for name, p in people.items()
            if ((since is None and not p.deleted) or (since is not None and p.changed > since))
            and (after is None or name > after)
        )
        page = matching[:size]
        out: dict[str, Any] = {
            key: [people[k].resource(wanted) for k in page],
            "totalPeople" if key == "connections" else "totalSize":
                sum(1 for p in people.values() if not p.deleted),
        }
        if len(matching) > size:
            out["nextPageToken"] = _encode({"sig": signature, "as_of": as_of, "after": page[-1]})
        elif query_flag(query, "requestSyncToken"):
            out["nextSyncToken"] = _encode({"owner": book.owner, "serial": as_of})
        return out


def _signature(query: dict[str, list[str]]) -> str:
    kept = {k: v for k, v in query.items() if k not in ("pageToken", "pageSize", "fields")}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


def _encode(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, sort_keys=True).encode()).decode()


def _decode(token: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request("Invalid token.") from exc
    if not isinstance(value, dict):
        raise bad_request("Invalid token.")
    return value
