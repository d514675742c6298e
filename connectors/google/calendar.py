"""Google Calendar sync: a resumable full sync of a time window, then syncToken increments.

One calendar is one stream. The connector yields one `Batch` per events.list page; the
caller applies each (records, deletions and cursor in one transaction) before asking for
the next, so a run killed at any point resumes from the last applied page without losing
or duplicating rows.

Cursor values (`Cursor(account, "gcal", stream=<calendar id>, value)`):

    {"phase": "full", "mode": "full" | "full_after_410" | "full_window_widened",
     "window_start": iso, "window_end": iso, "page_size": n,
     "page_token": <token of the next page, or null>, "prune": bool}
    {"phase": "incremental", "sync_token": "...", "page_token": <token or null>,
     "window_start": iso, "window_end": iso}

Full sync. events.list over the window (timeMin = window start, timeMax = window end),
recurring events expanded (`singleEvents=true`), cancelled ones included
(`showDeleted=true`), page by page. The cursor keeps the window it started with, so a
resumed listing sends the same parameters its page token belongs to. Google gives
`nextSyncToken` on the last page only; the last page's batch moves the cursor to
incremental. One incremental pass follows at once, so changes made while a long full
sync ran are not left for the next run.

Incremental sync. events.list with the stored syncToken (and the same singleEvents and
showDeleted; no window, which Google forbids with a token) returns every event changed
since, wherever it falls in time. Pages are resumed with the token and page token kept
in the cursor. Changed events are upserted; a cancelled event with its times is kept
marked "cancelled"; one without times (a deletion) has its key deleted.

410 Gone (`fullSyncRequired`): the token expired. The sync falls back to a full resync by
itself, reported as `mode="full_after_410"`. A cursor whose window starts later than the
one asked for (the user asked for more history) resyncs the same way
(`"full_window_widened"`); the window moving forward day by day does not.

Resync without ever emptying the table. A resync only upserts; with `known_events` (the
events the warehouse holds for this calendar), the final batch also deletes the stored
instances inside the window that the listing no longer has (deleted while the token was
dead). Instances outside the window (older history, far-future events an incremental
sync brought) are never pruned, and a day's margin at both ends absorbs the difference
between all-day dates read in the calendar's zone and stored at midnight UTC. Killed
half-way, the table holds the old rows plus whatever was refreshed: never fewer.
`Batch.replace_account_source` is not used: it would empty every calendar of the account.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from google.auth.exceptions import RefreshError
from googleapiclient.discovery import Resource
from googleapiclient.errors import HttpError

from connectors.google import calendar_api as api
from connectors.google.auth import (
    CALENDAR_SCOPES,
    AuthError,
    explain_refresh_error,
    explain_refusal,
)
from connectors.google.batching import CallStats, GoogleCaller
from connectors.google.calendar_records import (
    SOURCE,
    UnusableEventError,
    event_record,
    is_removal,
    quarantine_record,
)
from connectors.google.quota import Clock, QuotaLimiter
from connectors.google.retry import RetryPolicy
from connectors.records import Batch, Cursor, EventRecord, QuarantineRecord

log = logging.getLogger(__name__)

PRUNE_MARGIN = timedelta(days=1)
MODES = ("full", "incremental", "full_after_410", "full_window_widened")


class CalendarSyncError(RuntimeError):
    """The sync cannot go on; the message says why and what to do."""


@dataclass
class CalendarSyncReport:
    """What one `sync_calendar` run did, for logs and run metadata.

    Attributes:
        mode: one of `MODES`: "full" (no cursor, or resuming one), "incremental",
            "full_after_410" (the syncToken had expired: Google answered 410 Gone) or
            "full_window_widened" (a window reaching further back was asked for).
        resumed: a full sync continued from a stored cursor.
        relisted: a stored page token was refused, so that listing started over.
        window_start, window_end: the window of the full sync behind the cursor (ISO).
        events: records upserted (cancelled ones included); cancelled: of which
            marked cancelled.
        deletions: keys deleted because Google reported the event gone.
        pruned: keys deleted after a resync because the listing no longer had them.
        quarantined: resources that could not be read.
        pages, batches: events.list pages read, Batch objects yielded.
        stats: calls per method, quota units, retries and failures by kind.
    """

    account: str
    calendar_id: str
    mode: str = ""
    resumed: bool = False
    relisted: bool = False
    window_start: str | None = None
    window_end: str | None = None
    events: int = 0
    cancelled: int = 0
    deletions: int = 0
    pruned: int = 0
    quarantined: int = 0
    pages: int = 0
    batches: int = 0
    wall_seconds: float = 0.0
    stats: CallStats = field(default_factory=CallStats)

    @property
    def quota_units(self) -> int:
        return self.stats.quota_units

    def as_metadata(self) -> dict[str, Any]:
        """A flat, JSON-able summary (for Dagster metadata or logs)."""
        # The report's own counts win over the call statistics' namesakes (`batches`).
        summary = {k: v for k, v in asdict(self).items() if k != "stats"}
        return {**asdict(self.stats), "calls": dict(self.stats.calls), **summary}


@dataclass(frozen=True)
class CalendarInfo:
    """One entry of the user's calendar list."""

    id: str
    summary: str | None
    primary: bool
    access_role: str | None
    time_zone: str | None


KnownEvents = Callable[[], Iterable[tuple[str, datetime, datetime]]]


def sync_calendar(
    service: Resource,
    account: str,
    calendar_id: str,
    cursor: dict | None,
    *,
    limiter: QuotaLimiter,
    window_start: date | datetime,
    window_end: date | datetime,
    include_summary: bool = False,
    known_events: KnownEvents | None = None,
    report: CalendarSyncReport | None = None,
    retry: RetryPolicy | None = None,
    clock: Clock | None = None,
    page_size: int = api.PAGE_SIZE,
    costs: Mapping[str, int] = api.CALENDAR_COSTS,
) -> Iterator[Batch]:
    """Sync one calendar's event instances, full or incremental as the cursor says.

    Args:
        service: a Calendar client from `build_calendar_service`, authorized for
            `account` with `CALENDAR_SCOPES`.
        account: the calendar owner's address (marks the user's own attendee entries).
        calendar_id: "primary" or a calendar id from `list_calendars`; it is the
            cursor's stream and the records' `calendar_id`.
        cursor: the stored value for (account, "gcal", calendar_id), or None.
        limiter: the account's request bucket (`QuotaLimiter.for_ceiling(
            CALENDAR_USER_REQUESTS_PER_MINUTE)`; the limit is per user, so share one
            limiter between the calendars of an account).
        window_start, window_end: what a full sync reads: instances ending after the
            start and starting before the end (a date means midnight UTC). Incremental
            syncs take every change, wherever it falls.
        include_summary: also read and emit event titles (off by default, for privacy).
        known_events: returns (event_key, start_at, end_at) of every event stored for
            this account, source "gcal" and this calendar; enables the prune after a
            resync. Called only after every batch yielded before it was applied.
        report: filled in as the sync runs; read it after the loop.
        retry: backoff policy for 429/403-rate/5xx/connection failures.
        clock: for backoff waits (share the limiter's clock).
        page_size: events per page, at most 2500.
        costs: quota units per method.

    Yields:
        One Batch per page, each with the cursor to store with it.

    Raises:
        AuthError: the token was revoked, expired or lacks the Calendar scopes, with the
            command to fix it.
        CalendarSyncError: the calendar does not exist or is not shared with the
            account, or the sync token expired again right after a full sync.
        RetriesExhaustedError: the API kept failing after every retry.
    """
    window = (_as_utc(window_start), _as_utc(window_end))
    if window[1] <= window[0]:
        raise ValueError(f"window_end {window[1]} is not after window_start {window[0]}")
    if not 1 <= page_size <= api.PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {api.PAGE_SIZE}")
    report = report if report is not None else CalendarSyncReport(account, calendar_id)
    calendar = api.CalendarApi(service)
    caller = GoogleCaller(
        calendar.new_batch,
        limiter=limiter,
        costs=costs,
        policy=retry,
        clock=clock or limiter.clock,
        stats=report.stats,
    )
    run = _CalendarSync(
        calendar, account, calendar_id, caller, report, include_summary, known_events, page_size
    )
    started = time.monotonic()
    try:
        yield from run.run(cursor, window)
    except RefreshError as exc:
        raise AuthError(explain_refresh_error(account, exc)) from exc
    except HttpError as exc:
        explained = _explain(exc, account, f"calendar {calendar_id!r}")
        if explained is None:
            raise
        raise explained from exc
    finally:
        report.wall_seconds += time.monotonic() - started
    return report


def list_calendars(
    service: Resource,
    *,
    limiter: QuotaLimiter | None = None,
    retry: RetryPolicy | None = None,
    account: str | None = None,
) -> list[CalendarInfo]:
    """Every calendar in the user's calendar list (hidden ones left out), primary first.

    Args:
        service: a Calendar client from `build_calendar_service`.
        limiter: the account's request bucket; one for the documented ceiling if None.
        retry: backoff policy for retryable failures.
        account: the address the token belongs to, for error messages.

    Raises:
        AuthError: the token cannot be used or lacks `calendar.calendarlist.readonly`.
    """
    limiter = limiter or QuotaLimiter.for_ceiling(api.CALENDAR_USER_REQUESTS_PER_MINUTE)
    calendar = api.CalendarApi(service)
    caller = GoogleCaller(
        calendar.new_batch,
        limiter=limiter,
        costs=api.CALENDAR_COSTS,
        policy=retry,
        clock=limiter.clock,
    )
    found: list[CalendarInfo] = []
    page_token: str | None = None
    try:
        while True:
            page = caller.execute("calendarList.list", calendar.list_calendars(page_token))
            for entry in page.get("items") or []:
                found.append(
                    CalendarInfo(
                        id=entry["id"],
                        summary=entry.get("summary"),
                        primary=bool(entry.get("primary")),
                        access_role=entry.get("accessRole"),
                        time_zone=entry.get("timeZone"),
                    )
                )
            page_token = page.get("nextPageToken")
            if not page_token:
                break
    except RefreshError as exc:
        raise AuthError(explain_refresh_error(account, exc)) from exc
    except HttpError as exc:
        explained = _explain(exc, account, "calendar list")
        if explained is None:
            raise
        raise explained from exc
    return sorted(found, key=lambda c: not c.primary)


def _explain(exc: HttpError, account: str | None, what: str) -> Exception | None:
    """An error a user can act on for an HTTP failure the retries could not mend, or None
    when there is nothing to add to Google's own message."""
    status = exc.resp.status if exc.resp is not None else 0
    who = account or "this account"
    refused = explain_refusal(exc, account, reading=what, scopes=CALENDAR_SCOPES,
                              api="Google Calendar API", grant="Calendar access")
    if refused is not None:
        return refused
    if status == 404:
        return CalendarSyncError(
            f"Google has no {what} for {who} (HTTP 404): check the id against "
            "`list_calendars`, and that the calendar is shared with this account."
        )
    return None


def _as_utc(moment: date | datetime) -> datetime:
    if isinstance(moment, datetime):
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)


class _FullSyncRequiredError(Exception):
    """Google answered 410 Gone to a sync token: only a full sync can go on."""


@dataclass
class _CalendarSync:
    api: api.CalendarApi
    account: str
    calendar_id: str
    caller: GoogleCaller
    report: CalendarSyncReport
    include_summary: bool
    known_events: KnownEvents | None
    page_size: int

    # -- phases ---------------------------------------------------------------------

    def run(self, cursor: dict | None, window: tuple[datetime, datetime]) -> Iterator[Batch]:
        phase = (cursor or {}).get("phase")
        if phase == "incremental":
            stored_window = _window_of(cursor)
            if window[0] < stored_window[0]:
                state = self._new_full_state(window, "full_window_widened", prune=True)
            else:
                self._set_mode("incremental", stored_window)
                try:
                    yield from self._incremental(
                        cursor["sync_token"], cursor.get("page_token"), stored_window
                    )
                    return
                except _FullSyncRequiredError:
                    log.warning(
                        "sync token of calendar %s (%s) expired; running a full resync",
                        self.calendar_id,
                        self.account,
                    )
                    state = self._new_full_state(window, "full_after_410", prune=True)
        elif phase == "full":
            state = dict(cursor)
            self.report.resumed = True
        elif phase is None:
            state = self._new_full_state(window, "full", prune=False)
        else:
            raise CalendarSyncError(
                f"unknown Calendar cursor phase {phase!r} for {self.account}/{self.calendar_id}"
            )
        full_window = _window_of(state)
        self._set_mode(state["mode"], full_window)
        sync_token = yield from self._full(state, full_window)
        try:
            yield from self._incremental(sync_token, None, full_window)
        except _FullSyncRequiredError as exc:
            raise CalendarSyncError(
                f"The sync token of calendar {self.calendar_id} ({self.account}) expired "
                "right after a full sync; run the sync again."
            ) from exc

    def _set_mode(self, mode: str, window: tuple[datetime, datetime]) -> None:
        self.report.mode = mode
        self.report.window_start = window[0].isoformat()
        self.report.window_end = window[1].isoformat()

    def _new_full_state(
        self, window: tuple[datetime, datetime], mode: str, *, prune: bool
    ) -> dict[str, Any]:
        return {
            "phase": "full",
            "mode": mode,
            "window_start": window[0].isoformat(),
            "window_end": window[1].isoformat(),
            "page_size": self.page_size,
            "page_token": None,
            "prune": prune,
        }

    def _full(
        self, state: dict[str, Any], window: tuple[datetime, datetime]
    ) -> Generator[Batch, None, str]:
        page_size = int(state.get("page_size") or self.page_size)
        page_token: str | None = state.get("page_token")
        # Ids listed by this process (tombstones too: their page deletes them); None when
        # earlier pages were listed by another run.
        listed: set[str] | None = set() if page_token is None else None
        while True:
            try:
                page = self._page(self._window_request(window, page_size, page_token))
            except HttpError as exc:
                if page_token is None or exc.resp.status not in (400, 410):
                    raise
                # A page token kept in a cursor can outlive Google's interest in it. List
                # again from the start: upserts make the repeat harmless.
                self._relist(exc)
                page_token, listed = None, set()
                continue
            records, removed, quarantined = self._shape(page)
            if listed is not None:
                listed.update(item["id"] for item in page if "id" in item)
            next_page = page.next_page_token
            if next_page:
                yield self._batch(records, removed, quarantined, {**state, "page_token": next_page})
                page_token = next_page
                continue
            sync_token = self._sync_token(page)
            stale: list[str] = []
            if state.get("prune") and self.known_events is not None:
                present = listed if listed is not None else self._present(window, page_size)
                stale = self._stale(present, window)
                self.report.pruned += len(stale)
            yield self._batch(
                records,
                removed + stale,
                quarantined,
                _incremental_cursor(sync_token, None, window),
            )
            return sync_token

    def _incremental(
        self, sync_token: str, page_token: str | None, window: tuple[datetime, datetime]
    ) -> Iterator[Batch]:
        while True:
            request = self.api.list_events(
                self.calendar_id,
                sync_token=sync_token,
                page_token=page_token,
                page_size=self.page_size,
                include_summary=self.include_summary,
            )
            try:
                page = self._page(request)
            except HttpError as exc:
                if exc.resp.status == 410:
                    raise _FullSyncRequiredError(sync_token) from exc
                if page_token is None or exc.resp.status != 400:
                    raise
                self._relist(exc)
                page_token = None
                continue
            records, removed, quarantined = self._shape(page)
            next_page = page.next_page_token
            if next_page:
                cursor = _incremental_cursor(sync_token, next_page, window)
                yield self._batch(records, removed, quarantined, cursor)
                page_token = next_page
                continue
            cursor = _incremental_cursor(self._sync_token(page), None, window)
            yield self._batch(records, removed, quarantined, cursor)
            return

    # -- pages ----------------------------------------------------------------------

    def _window_request(
        self,
        window: tuple[datetime, datetime],
        page_size: int,
        page_token: str | None,
        *,
        ids: bool = False,
    ) -> Any:
        return self.api.list_events(
            self.calendar_id,
            window=window,
            page_token=page_token,
            page_size=page_size,
            include_summary=self.include_summary and not ids,
            presence_only=ids,
        )

    def _page(self, request: Any) -> _Page:
        response = self.caller.execute("events.list", request)
        self.report.pages += 1
        return _Page(response)

    def _relist(self, exc: HttpError) -> None:
        log.warning(
            "stored page token of calendar %s (%s) rejected (%s); listing from the start",
            self.calendar_id,
            self.account,
            exc.resp.status,
        )
        self.report.relisted = True

    def _sync_token(self, page: _Page) -> str:
        token = page.next_sync_token
        if not token:
            raise CalendarSyncError(
                f"Google gave no nextSyncToken on the last page of calendar "
                f"{self.calendar_id} ({self.account})."
            )
        return token

    def _present(self, window: tuple[datetime, datetime], page_size: int) -> set[str]:
        present: set[str] = set()
        page_token: str | None = None
        while True:
            page = self._page(self._window_request(window, page_size, page_token, ids=True))
            present.update(item["id"] for item in page if "id" in item)
            page_token = page.next_page_token
            if not page_token:
                return present

    def _stale(self, present: set[str], window: tuple[datetime, datetime]) -> list[str]:
        low, high = window[0] + PRUNE_MARGIN, window[1] - PRUNE_MARGIN
        stale = set()
        for key, start_at, end_at in self.known_events():
            if key not in present and _as_utc(end_at) > low and _as_utc(start_at) < high:
                stale.add(key)
        return sorted(stale)

    def _shape(self, page: _Page) -> tuple[list[EventRecord], list[str], list[QuarantineRecord]]:
        records: list[EventRecord] = []
        removed: list[str] = []
        quarantined: list[QuarantineRecord] = []
        for item in page:
            if is_removal(item) and item.get("id"):
                removed.append(item["id"])
                continue
            try:
                records.append(
                    event_record(
                        self.account, self.calendar_id, item, include_summary=self.include_summary
                    )
                )
            except UnusableEventError as exc:
                quarantined.append(
                    quarantine_record(self.account, self.calendar_id, item, str(exc))
                )
        return records, removed, quarantined

    def _batch(
        self,
        records: list[EventRecord],
        gone: list[str],
        quarantined: list[QuarantineRecord],
        cursor_value: dict[str, Any],
    ) -> Batch:
        deleted = [(self.account, self.calendar_id, key) for key in dict.fromkeys(gone)]
        self.report.events += len(records)
        self.report.cancelled += sum(1 for r in records if r.status == "cancelled")
        self.report.deletions += len(deleted)
        self.report.quarantined += len(quarantined)
        self.report.batches += 1
        return Batch(
            events=records,
            quarantine=quarantined,
            deleted_event_keys=deleted,
            cursor=Cursor(self.account, SOURCE, self.calendar_id, cursor_value),
        )


class _Page:
    """One events.list response: its items, and the tokens that say what comes next."""

    def __init__(self, response: dict[str, Any]) -> None:
        self.items: list[dict[str, Any]] = response.get("items") or []
        self.next_page_token: str | None = response.get("nextPageToken")
        self.next_sync_token: str | None = response.get("nextSyncToken")

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.items)


def _window_of(value: Mapping[str, Any]) -> tuple[datetime, datetime]:
    return (
        datetime.fromisoformat(value["window_start"]),
        datetime.fromisoformat(value["window_end"]),
    )


def _incremental_cursor(
    sync_token: str, page_token: str | None, window: tuple[datetime, datetime]
) -> dict[str, Any]:
    return {
        "phase": "incremental",
        "sync_token": sync_token,
        "page_token": page_token,
        "window_start": window[0].isoformat(),
        "window_end": window[1].isoformat(),
    }
