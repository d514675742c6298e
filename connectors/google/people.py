"""Google Contacts sync: a resumable full listing, then sync-token increments.

The address book of one account is one stream (`Cursor(account, "gcontacts",
"connections", value)`). The connector yields one `ContactBatch` per connections.list
page; the caller applies each (records, deletions, groups and cursor in one transaction)
before asking for the next, so a run killed at any point resumes from the last applied
page without losing or duplicating rows.

Cursor values:

    {"phase": "full", "mode": "full" | "full_after_expiry", "page_token": <or null>}
    {"phase": "incremental", "sync_token": "...", "page_token": <or null>}

Full sync: connections.list with `requestSyncToken=true`, page by page; Google gives
`nextSyncToken` on the last page, whose batch moves the cursor to incremental. The first
batch also carries the contact groups (contactGroups.list), so labels are named.

Incremental sync: the stored token returns only contacts changed since, deleted ones
with `metadata.deleted` (their keys are deleted). Groups are read again (one call) so a
renamed label shows. An unchanged address book costs two requests.

Expired token: Google keeps sync tokens for 7 days and then answers 400
FAILED_PRECONDITION with reason `EXPIRED_SYNC_TOKEN`. The sync then lists everything again
(mode "full_after_expiry" in the report and the run metadata). The resync only upserts;
its last batch deletes the stored keys the listing no longer had (`known_contacts`),
so the table never empties on the way.

Other contacts (the ones Gmail saves by itself), when the user turns them on, are a second
stream, `OTHER_STREAM`: otherContacts.list (scope contacts.other.readonly) with names and
addresses only, the same sync tokens, expiry and resumption, no labels.

The first page of a full listing has an extra per-minute quota on Google's side and
answers 429 past it: the shared retry (429 is a quota failure) waits and tries again.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from google.auth.exceptions import RefreshError
from googleapiclient.discovery import Resource
from googleapiclient.errors import HttpError

from connectors.google import people_api as api
from connectors.google.auth import (
    CONTACTS_SCOPES,
    OTHER_CONTACTS_SCOPES,
    AuthError,
    explain_refresh_error,
    explain_refusal,
)
from connectors.google.batching import CallStats, GoogleCaller
from connectors.google.people_records import (
    SOURCE,
    ContactGroupRecord,
    ContactRecord,
    UnusableContactError,
    contact_record,
    group_record,
    is_deleted,
    quarantine_record,
)
from connectors.google.quota import Clock, QuotaLimiter
from connectors.google.retry import RetryPolicy, error_reason
from connectors.records import Cursor, QuarantineRecord

log = logging.getLogger(__name__)

STREAM = "connections"
# The "other contacts" (saved by Gmail when you write to someone), only when the user turns
# them on: their own stream, method and scope; no labels.
OTHER_STREAM = "other_contacts"
MODES = ("full", "incremental", "full_after_expiry")
EXPIRED = "EXPIRED_SYNC_TOKEN"


class PeopleSyncError(RuntimeError):
    """The sync cannot go on; the message says why and what to do."""


@dataclass(slots=True)
class ContactBatch:
    """What the warehouse applies atomically for one page.

    Attributes:
        contacts: versions to store (a version already held, same etag, is a no-op).
        groups: the full list of contact groups (on a batch that read them), else None.
        deleted_contact_keys: (account, contact_key) the source says are gone.
        quarantine: resources that could not be read.
        cursor: the position after this batch.
    """

    contacts: list[ContactRecord] = field(default_factory=list)
    groups: list[ContactGroupRecord] | None = None
    deleted_contact_keys: list[tuple[str, str]] = field(default_factory=list)
    quarantine: list[QuarantineRecord] = field(default_factory=list)
    cursor: Cursor | None = None


@dataclass
class PeopleSyncReport:
    """What one `sync_contacts` run did, for logs and run metadata.

    Attributes:
        mode: "full", "incremental" or "full_after_expiry" (the sync token had expired).
        resumed: a full listing continued from a stored page token.
        contacts, deletions, pruned, quarantined, groups: counts.
        pages, batches: connections.list pages read, batches yielded.
    """

    account: str
    mode: str = ""
    resumed: bool = False
    contacts: int = 0
    deletions: int = 0
    pruned: int = 0
    quarantined: int = 0
    groups: int = 0
    pages: int = 0
    batches: int = 0
    wall_seconds: float = 0.0
    stats: CallStats = field(default_factory=CallStats)

    def as_metadata(self) -> dict[str, Any]:
        summary = {k: v for k, v in asdict(self).items() if k != "stats"}
        return {**asdict(self.stats), "calls": dict(self.stats.calls), **summary}


KnownContacts = Callable[[], Iterable[str]]


def is_expired_token(exc: HttpError) -> bool:
    """Whether Google refused a sync token as expired (reason EXPIRED_SYNC_TOKEN, in the
    error's `details` as the People API sends it, or in the older `errors` list)."""
    if exc.resp is None or exc.resp.status != 400:
        return False
    if error_reason(exc) == EXPIRED:
        return True
    try:
        raw = exc.content.decode("utf-8") if isinstance(exc.content, bytes) else exc.content
        details = json.loads(raw).get("error", {}).get("details") or []
    except (ValueError, AttributeError, TypeError):
        return False
    return any(isinstance(d, dict) and d.get("reason") == EXPIRED for d in details)


def sync_contacts(
    service: Resource,
    account: str,
    cursor: dict | None,
    *,
    limiter: QuotaLimiter,
    known_contacts: KnownContacts | None = None,
    report: PeopleSyncReport | None = None,
    retry: RetryPolicy | None = None,
    clock: Clock | None = None,
    page_size: int = api.PAGE_SIZE,
    costs: Mapping[str, int] = api.PEOPLE_COSTS,
    stream: str = STREAM,
) -> Iterator[ContactBatch]:
    """Sync one account's contacts, full or incremental as the cursor says.

    Args:
        service: a People client from `build_people_service` with `CONTACTS_SCOPES`.
        account: the address book owner's address.
        cursor: the stored value for (account, "gcontacts", "connections"), or None.
        limiter: the account's request bucket
            (`QuotaLimiter.for_ceiling(PEOPLE_USER_REQUESTS_PER_MINUTE)`).
        known_contacts: returns the contact keys stored for this account and source;
            enables the prune at the end of a resync. Called only after every batch
            yielded before it was applied.
        report: filled in as the sync runs.
        retry, clock: backoff for 429/403-rate/5xx/connection failures.
        page_size: contacts per page, at most 1000.
        stream: `STREAM` (the address book: connections.list, with the labels) or
            `OTHER_STREAM` (otherContacts.list, scope contacts.other.readonly, no labels).

    Raises:
        AuthError: the token is revoked or lacks the contacts scope.
        PeopleSyncError: the sync token expired again right after a full listing.
        RetriesExhaustedError: the API kept failing after every retry.
    """
    if stream not in (STREAM, OTHER_STREAM):
        raise ValueError(f"unknown contacts stream {stream!r}")
    if not 1 <= page_size <= api.PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {api.PAGE_SIZE}")
    report = report if report is not None else PeopleSyncReport(account)
    people = api.PeopleApi(service)
    caller = GoogleCaller(
        people.new_batch,
        limiter=limiter,
        costs=costs,
        policy=retry,
        clock=clock or limiter.clock,
        stats=report.stats,
    )
    run = _PeopleSync(people, account, caller, report, known_contacts, page_size, stream)
    started = time.monotonic()
    try:
        yield from run.run(cursor)
    except RefreshError as exc:
        raise AuthError(explain_refresh_error(account, exc)) from exc
    except HttpError as exc:
        other = stream != STREAM
        explained = explain_refusal(
            exc, account, reading="other contacts" if other else "contacts",
            scopes=OTHER_CONTACTS_SCOPES if other else CONTACTS_SCOPES, api="Google People API",
            grant="access to other contacts" if other else "Contacts access")
        if explained is not None:
            raise explained from exc
        raise
    finally:
        report.wall_seconds += time.monotonic() - started


@dataclass
class _PeopleSync:
    api: api.PeopleApi
    account: str
    caller: GoogleCaller
    report: PeopleSyncReport
    known_contacts: KnownContacts | None
    page_size: int
    stream: str = STREAM
    seen: set[str] = field(default_factory=set)

    def run(self, cursor: dict | None) -> Iterator[ContactBatch]:
        cursor = dict(cursor or {})
        if cursor.get("phase") == "incremental":
            self.report.mode = self.report.mode or "incremental"
            try:
                yield from self._incremental(cursor)
                return
            except HttpError as exc:
                if not is_expired_token(exc):
                    raise
                log.info("contacts sync token of %s expired: full resync", self.account)
                cursor = {"phase": "full", "mode": "full_after_expiry", "page_token": None}
        if cursor.get("phase") != "full":
            cursor = {"phase": "full", "mode": "full", "page_token": None}
        self.report.mode = cursor["mode"]
        self.report.resumed = bool(cursor.get("page_token"))
        sync_token = yield from self._full(cursor)
        # Changes made while a long listing ran are picked up at once.
        try:
            yield from self._incremental(
                {"phase": "incremental", "sync_token": sync_token, "page_token": None}
            )
        except HttpError as exc:
            if is_expired_token(exc):
                raise PeopleSyncError(
                    f"Google expired the contacts sync token of {self.account} right after "
                    "a full listing; try again later."
                ) from exc
            raise

    def _groups(self) -> list[ContactGroupRecord]:
        found: list[ContactGroupRecord] = []
        page_token: str | None = None
        while True:
            page = self.caller.execute("contactGroups.list", self.api.list_groups(page_token))
            for entry in page.get("contactGroups") or []:
                record = group_record(self.account, entry)
                if record is not None:
                    found.append(record)
            page_token = page.get("nextPageToken")
            if not page_token:
                break
        self.report.groups = len(found)
        return found

    def _page(self, sync_token: str | None, page_token: str | None) -> dict[str, Any]:
        if self.stream == OTHER_STREAM:
            request = self.api.list_other_contacts(
                sync_token=sync_token, page_token=page_token, page_size=self.page_size
            )
            page = self.caller.execute("otherContacts.list", request)
            page["connections"] = page.pop("otherContacts", None) or []
        else:
            request = self.api.list_connections(
                sync_token=sync_token, page_token=page_token, page_size=self.page_size
            )
            page = self.caller.execute("connections.list", request)
        self.report.pages += 1
        return page

    def _labels(self) -> list[ContactGroupRecord] | None:
        # Other contacts carry no memberships: the labels are the address book's to read.
        return self._groups() if self.stream == STREAM else None

    def _batch(self, page: dict[str, Any], cursor_value: dict[str, Any]) -> ContactBatch:
        batch = ContactBatch(cursor=Cursor(self.account, SOURCE, self.stream, cursor_value))
        for person in page.get("connections") or []:
            if is_deleted(person):
                if person.get("resourceName"):
                    batch.deleted_contact_keys.append((self.account, person["resourceName"]))
                continue
            try:
                record = contact_record(self.account, person)
            except UnusableContactError as exc:
                batch.quarantine.append(quarantine_record(self.account, person, str(exc)))
                continue
            self.seen.add(record.contact_key)
            batch.contacts.append(record)
        self.report.contacts += len(batch.contacts)
        self.report.deletions += len(batch.deleted_contact_keys)
        self.report.quarantined += len(batch.quarantine)
        self.report.batches += 1
        return batch

    def _full(self, cursor: dict[str, Any]) -> Iterator[ContactBatch]:
        page_token = cursor.get("page_token")
        first = True
        while True:
            page = self._page(None, page_token)
            page_token = page.get("nextPageToken")
            sync_token = page.get("nextSyncToken")
            if page_token:
                value = {"phase": "full", "mode": cursor["mode"], "page_token": page_token}
            elif sync_token:
                value = {"phase": "incremental", "sync_token": sync_token, "page_token": None}
            else:
                raise PeopleSyncError("Google ended a contacts listing without a sync token.")
            batch = self._batch(page, value)
            if first:
                batch.groups = self._labels()
                first = False
            if not page_token and self.known_contacts is not None and not self.report.resumed:
                gone = sorted(set(self.known_contacts()) - self.seen)
                batch.deleted_contact_keys.extend((self.account, k) for k in gone)
                self.report.pruned += len(gone)
            yield batch
            if not page_token:
                return sync_token

    def _incremental(self, cursor: dict[str, Any]) -> Iterator[ContactBatch]:
        sync_token = cursor["sync_token"]
        page_token = cursor.get("page_token")
        first = True
        while True:
            page = self._page(sync_token, page_token)
            page_token = page.get("nextPageToken")
            if page_token:
                value = {"phase": "incremental", "sync_token": sync_token, "page_token": page_token}
            else:
                value = {
                    "phase": "incremental",
                    "sync_token": page.get("nextSyncToken") or sync_token,
                    "page_token": None,
                }
            batch = self._batch(page, value)
            if first:
                batch.groups = self._labels()
                first = False
            yield batch
            if not page_token:
                return
