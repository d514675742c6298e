"""Gmail metadata sync: a resumable full sync, then incremental sync from mailbox history.

The connector yields `Batch`es; the caller applies each one (records, deletions and
cursor in one transaction) before asking for the next, so a run killed at any point
resumes from the last applied cursor without losing or duplicating rows.

Cursor values (stream "history"):

    {"phase": "full", "mode": "full" | "full_after_404", "start_history_id": "...",
     "page_token": <token of the messages.list page in progress or null>,
     "done": [ids of that page already applied], "replace_pending": bool,
     "prune": bool (compare the warehouse's keys with a listing at the end; absent = true)}

A resumed full sync lists again from the stored page token to the end (the pages before
it were applied) and plans from that listing's thread sizes.
    {"phase": "incremental", "history_id": "..."}

Full sync. `users.getProfile` gives the mailbox's historyId *before* listing starts;
`messages.list` (spam and trash included, so TRASH/SPAM labels reach the model) pages
through every id first (5 units per 500 ids, with each id's threadId), so the size of
every thread is known exactly before anything is fetched. Then metadata is fetched page
by page in the listing's order, in batches of at most 50 calls, each thread once, at
min(n x messages.get, threads.get): `threads.get` (10 units, every message of the
thread) for a thread of two or more listed messages, `messages.get` (5 units) for a
single one. That is the least any plan can spend, whatever the server's thread ids look
like (Google does not promise that a thread is named after its first message). The
listing is held in memory (about 150 bytes per message). When the full sync ends the
cursor moves to incremental at the start historyId, and history since then is applied
at once, so changes made during a long full sync are not lost.

Incremental sync. `history.list` from the stored historyId: added messages and messages
whose labels changed are fetched again (a move to TRASH or SPAM is a label change),
deleted ones become `deleted_message_keys`. An expired historyId (HTTP 404) falls back
to a full resync by itself; `SyncReport.mode` then reads "full_after_404".

Resync without ever emptying the table. With `known_message_keys` (a callable returning
the message keys the warehouse holds for this account) a resync only upserts; when the
listing is complete, one id-only listing of the mailbox (5 units per 500 ids) is compared
with the warehouse's keys and the difference is deleted in the final batch. Killed
half-way, the table holds the old rows plus whatever was refreshed: never fewer. Without
the callable the resync falls back to `replace_account_source` on its first batch, which
is exact once finished but leaves a partial table if killed mid-way. A first full sync
(no cursor, and the warehouse holds no key of the account when it starts) skips that
second listing: every row it lands was listed after the start historyId, so a message
deleted since is in the history the sync applies next (the cursor keeps this as
"prune": false, so a resumed first sync skips it too).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

from google.auth.exceptions import RefreshError
from googleapiclient.discovery import Resource
from googleapiclient.errors import HttpError

from connectors.google import gmail_api as api
from connectors.google.auth import GMAIL_SCOPES, AuthError, explain_refresh_error, explain_refusal
from connectors.google.batching import MAX_BATCH_CALLS, Call, CallStats, GoogleCaller
from connectors.google.gmail_records import (
    SOURCE,
    UnusableMessageError,
    message_record,
    quarantine_record,
)
from connectors.google.quota import Clock, QuotaLimiter
from connectors.google.retry import RetryPolicy
from connectors.records import Batch, Cursor, MessageRecord, QuarantineRecord

log = logging.getLogger(__name__)

STREAM = "history"
STRATEGIES = ("auto", "threads", "messages")


class GmailSyncError(RuntimeError):
    """The sync cannot go on; the message says why and what to do."""


@dataclass
class SyncReport:
    """What one `sync_gmail` run did, for logs and run metadata.

    Attributes:
        mode: "full" (no cursor, or resuming one), "incremental", or "full_after_404"
            (the stored historyId had expired and a full resync ran instead).
        resumed: a full sync continued from a stored cursor.
        relisted: the stored page token was refused, so listing started over.
        start_history_id / history_id: the cursor's historyId before and after.
        messages, quarantined: records emitted.
        deletions: keys deleted that the store held: landed earlier (as
            `known_message_keys` says) or by this run, and not deleted yet by it. Without
            `known_message_keys` a key landed by an earlier run cannot be told from one
            never landed, and every such deletion is counted.
        deletions_not_held: deletions Gmail reported (history, or a message gone before
            it was fetched) for keys the store never held; they are not sent.
        batches: Batch objects yielded.
        stats: calls per method, quota units charged, refusals, retries and failures by
            kind (see connectors/google/batching.py).
    """

    account: str
    mode: str = ""
    resumed: bool = False
    strategy: str = "auto"
    start_history_id: str | None = None
    history_id: str | None = None
    messages: int = 0
    deletions: int = 0
    deletions_not_held: int = 0
    quarantined: int = 0
    batches: int = 0
    relisted: bool = False
    wall_seconds: float = 0.0
    stats: CallStats = field(default_factory=CallStats)

    @property
    def quota_units(self) -> int:
        return self.stats.quota_units

    @property
    def calls(self) -> dict[str, int]:
        return dict(self.stats.calls)

    @property
    def retries(self) -> int:
        return self.stats.retries

    @property
    def rate_limited(self) -> int:
        return self.stats.rate_limited

    @property
    def transport_errors(self) -> int:
        return self.stats.transport_errors

    def as_metadata(self) -> dict[str, Any]:
        """A flat, JSON-able summary (for Dagster metadata or logs)."""
        out = {k: v for k, v in asdict(self).items() if k != "stats"}
        stats = asdict(self.stats)
        stats["calls"] = dict(self.stats.calls)
        return {**out, **stats}


def sync_gmail(
    service: Resource,
    account: str,
    cursor: dict | None,
    *,
    limiter: QuotaLimiter,
    include_subject: bool = False,
    known_message_keys: Callable[[], Iterable[str]] | None = None,
    strategy: str = "auto",
    report: SyncReport | None = None,
    retry: RetryPolicy | None = None,
    clock: Clock | None = None,
    costs: Mapping[str, int] = api.GMAIL_COSTS,
    max_batch: int = MAX_BATCH_CALLS,
) -> Iterator[Batch]:
    """Sync one mailbox's message metadata, full or incremental as the cursor says.

    Args:
        service: a Gmail client from `build_gmail_service`, authorized for `account`.
        account: the mailbox address; must match the token's mailbox.
        cursor: the stored value for (account, "gmail", "history"), or None.
        limiter: this account's quota bucket (one per mailbox: the limit is per user).
        include_subject: also read and emit Subject (off by default, for privacy).
        known_message_keys: returns the message keys stored for this account (a
            superset, such as every key ever landed, is safe); enables the resync that
            never empties the table and removes rows the mailbox no longer has, and the
            count of deletions of keys the store held. Called only after every batch
            yielded before it was applied, at most once per run for deletions and once
            for a resync's prune.
        strategy: "auto" (cheapest per thread), "threads" or "messages".
        report: filled in as the sync runs; read it after the loop.
        retry: backoff policy for 429/403-rate/5xx/connection failures.
        clock: for backoff waits (share the limiter's clock).
        costs: quota units per method (`GMAIL_COSTS` or `GMAIL_COSTS_2026`).
        max_batch: calls per batch request, at most 50.

    Yields:
        Batches to apply in order; each carries the cursor to store with it (or None
        when only a later batch of the same step moves the cursor).

    Raises:
        AuthError: the token was revoked or expired, with the command to fix it.
        GmailSyncError: the token opens another mailbox, or history expired twice.
        RetriesExhaustedError: the API kept failing after every retry.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}")
    report = report if report is not None else SyncReport(account=account)
    report.strategy = strategy
    gmail = api.GmailApi(service)
    caller = GoogleCaller(
        gmail.new_batch,
        limiter=limiter,
        costs=costs,
        policy=retry,
        clock=clock or limiter.clock,
        stats=report.stats,
        max_batch=max_batch,
    )
    run = _GmailSync(
        gmail, account, caller, report, include_subject, known_message_keys, strategy, costs
    )
    started = time.monotonic()
    try:
        yield from run.run(cursor)
    except RefreshError as exc:
        raise AuthError(explain_refresh_error(account, exc)) from exc
    except HttpError as exc:
        refused = explain_refusal(exc, account, reading="mail", scopes=GMAIL_SCOPES,
                                  api="Gmail API", grant="Gmail access")
        if refused is not None:
            raise refused from exc
        raise
    finally:
        report.wall_seconds += time.monotonic() - started
    return report


class _HistoryExpiredError(Exception):
    pass


class _GmailSync:
    def __init__(
        self,
        gmail: api.GmailApi,
        account: str,
        caller: GoogleCaller,
        report: SyncReport,
        include_subject: bool,
        known_message_keys: Callable[[], Iterable[str]] | None,
        strategy: str,
        costs: Mapping[str, int],
    ) -> None:
        self.api = gmail
        self.account = account
        self.caller = caller
        self.report = report
        self.include_subject = include_subject
        self.known_message_keys = known_message_keys
        self.strategy = strategy
        self.costs = costs
        self.headers = (
            (*api.METADATA_HEADERS, "Subject") if include_subject else api.METADATA_HEADERS
        )
        self.held_before: set[str] | None = None  # known_message_keys(), read when needed
        self.landed_now: set[str] = set()
        self.deleted_now: set[str] = set()

    # -- phases ---------------------------------------------------------------------

    def run(self, cursor: dict | None) -> Iterator[Batch]:
        profile = self._profile()
        phase = (cursor or {}).get("phase")
        if phase == "incremental":
            self.report.mode = "incremental"
            self.report.start_history_id = str(cursor["history_id"])
            try:
                yield from self._incremental(str(cursor["history_id"]))
                return
            except _HistoryExpiredError:
                log.warning(
                    "history %s of %s expired; running a full resync",
                    cursor["history_id"],
                    self.account,
                )
                self.report.mode = "full_after_404"
                state = self._new_full_state(
                    self._profile()["historyId"], "full_after_404", resync=True
                )
        elif phase == "full":
            state = dict(cursor)
            self.report.mode = state.get("mode", "full")
            self.report.resumed = True
        elif phase is None:
            self.report.mode = "full"
            state = self._new_full_state(profile["historyId"], "full", resync=False)
        else:
            raise GmailSyncError(f"unknown Gmail cursor phase {phase!r} for {self.account}")

        self.report.start_history_id = self.report.start_history_id or state["start_history_id"]
        yield from self._full(state)
        try:
            yield from self._incremental(state["start_history_id"])
        except _HistoryExpiredError as exc:
            raise GmailSyncError(
                f"Gmail history for {self.account} expired again right after a full sync "
                f"(started at historyId {state['start_history_id']}); run the sync again."
            ) from exc

    def _profile(self) -> dict[str, Any]:
        profile = self.caller.execute("users.getProfile", self.api.get_profile())
        address = (profile.get("emailAddress") or "").lower()
        if address and address != self.account.lower():
            raise GmailSyncError(
                f"The Google token configured for {self.account} opens the mailbox "
                f"{address}; run `keepwarm auth google --account {self.account}` and sign "
                "in with the right account."
            )
        return profile

    def _new_full_state(self, history_id: str, mode: str, *, resync: bool) -> dict[str, Any]:
        prune = self.known_message_keys is not None
        if prune and not resync:
            # A first sync: if the warehouse holds nothing of this account yet, nothing
            # it lands can go stale unseen (history since the start covers it).
            self.held_before = set(self.known_message_keys())
            prune = bool(self.held_before)
        return {
            "phase": "full",
            "mode": mode,
            "start_history_id": str(history_id),
            "page_token": None,
            "done": [],
            "replace_pending": resync and self.known_message_keys is None,
            "prune": prune,
        }

    def _full(self, state: dict[str, Any]) -> Iterator[Batch]:
        pages = self._list_all(state.get("page_token"))
        if pages and pages[0].token != state.get("page_token"):  # the stored token was refused
            state = {**state, "done": []}
        done: set[str] = set(state.get("done") or [])
        replace_pending = bool(state.get("replace_pending"))
        seen: set[str] = set()  # ids emitted by this process (threads.get brings extras)
        sizes = _thread_sizes(pages)
        fetched_threads: set[str] = set()
        page_token: str | None = pages[0].token if pages else state.get("page_token")

        def cursor_value() -> dict[str, Any]:
            return {
                **state,
                "page_token": page_token,
                "done": sorted(done),
                "replace_pending": replace_pending,
            }

        for page in pages:
            page_token = page.token
            listed = list(zip(page.ids, page.thread_ids, strict=True))
            done |= {mid for mid, _ in listed if mid in seen}
            todo = [(mid, tid) for mid, tid in listed if mid not in done]
            calls = self._plan(todo, sizes=sizes, fetched_threads=fetched_threads)
            for results in self.caller.execute_many(calls):
                records, quarantined, gone = [], [], []
                for call, response in results:
                    covered = call.key[2]
                    got = self._shape(call, response, records, quarantined)
                    seen.update(got)
                    gone.extend(mid for mid in covered if mid not in got)
                    done.update(covered)
                batch = self._batch(records, quarantined, gone, cursor_value())
                if replace_pending:
                    batch.replace_account_source = (self.account, SOURCE)
                    replace_pending = False
                    batch.cursor.value["replace_pending"] = False
                yield batch
            done = set()

        stale: list[str] = []
        if self.known_message_keys is not None and state.get("prune", True):
            stale = self._stale_keys()
        final = self._batch(
            [], [], stale, {"phase": "incremental", "history_id": state["start_history_id"]}
        )
        if replace_pending:
            final.replace_account_source = (self.account, SOURCE)
        self.report.history_id = state["start_history_id"]
        yield final

    def _list_all(self, page_token: str | None) -> list[_Page]:
        """Every page of the listing from `page_token` (None: the start) to the end.

        A page token kept in a cursor can outlive Gmail's interest in it: if it is
        refused, the listing starts over (upserts make the repeat harmless; only quota
        is lost) and the first page's token is None.
        """
        pages: list[_Page] = []
        token = page_token
        while True:
            try:
                page = self.caller.execute("messages.list", self.api.list_messages(token))
            except HttpError as exc:
                if token is None or token != page_token or exc.resp.status not in (400, 404, 410):
                    raise
                log.warning(
                    "stored page token for %s rejected (%s); listing from the start",
                    self.account,
                    exc.resp.status,
                )
                self.report.relisted = True
                token = page_token = None
                continue
            messages = page.get("messages") or []
            pages.append(
                _Page(
                    token,
                    [m["id"] for m in messages],
                    [m.get("threadId") or m["id"] for m in messages],
                )
            )
            token = page.get("nextPageToken")
            if not token:
                return pages

    def _stale_keys(self) -> list[str]:
        known = set(self.known_message_keys())
        self.held_before = known
        if not known:
            return []
        present: set[str] = set()
        token = None
        while True:
            page = self.caller.execute(
                "messages.list", self.api.list_messages(token, ids_only=True)
            )
            present.update(m["id"] for m in page.get("messages") or [])
            token = page.get("nextPageToken")
            if not token:
                break
        return sorted(known - present)

    def _incremental(self, history_id: str) -> Iterator[Batch]:
        start = history_id
        page_token: str | None = None
        while True:
            page = self.caller.execute(
                "history.list",
                self.api.list_history(start, page_token),
                missing_ok=True,
            )
            if page is None:
                raise _HistoryExpiredError(start)
            history = page.get("history") or []
            fetch, deleted = _changes(history)
            for results in self.caller.execute_many(self._plan(fetch)):
                records, quarantined, gone = [], [], []
                for call, response in results:
                    got = self._shape(call, response, records, quarantined)
                    gone.extend(mid for mid in call.key[2] if mid not in got)
                yield self._batch(records, quarantined, gone, None)
            page_token = page.get("nextPageToken")
            if page_token:
                position = str(history[-1]["id"]) if history else start
            else:
                position = str(page.get("historyId") or (history[-1]["id"] if history else start))
            self.report.history_id = position
            yield self._batch([], [], deleted, {"phase": "incremental", "history_id": position})
            if not page_token:
                return

    # -- fetching -------------------------------------------------------------------

    def _plan(
        self,
        items: list[tuple[str, str]],
        *,
        sizes: Mapping[str, int] | None = None,
        fetched_threads: set[str] | None = None,
    ) -> list[Call]:
        """Calls that fetch `items` ((message id, thread id) pairs) at the least cost.

        `sizes` (full sync): each thread's number of messages over the whole listing.
        Every message of the thread will be wanted, so a thread costs min(n x
        messages.get, threads.get), and `fetched_threads` (thread ids already fetched
        whole, added to here) keeps a thread from being fetched whole twice. Without
        `sizes` (history) only the listed messages are wanted: threads.get only when
        it is cheaper than fetching them one by one.
        """
        by_thread: dict[str, list[str]] = {}
        for mid, tid in items:
            by_thread.setdefault(tid, []).append(mid)
        thread_cost = self.costs["threads.get"]
        message_cost = self.costs["messages.get"]
        calls: list[Call] = []
        for tid, mids in by_thread.items():
            if fetched_threads is not None and tid in fetched_threads:
                use_thread = False  # messages that joined it after it was fetched
            elif self.strategy == "threads":
                use_thread = True
            elif self.strategy == "messages":
                use_thread = False
            elif sizes is not None:
                use_thread = thread_cost <= max(len(mids), sizes.get(tid, 0)) * message_cost
            else:
                use_thread = thread_cost < len(mids) * message_cost
            if use_thread:
                if fetched_threads is not None:
                    fetched_threads.add(tid)
                request = self.api.get_thread(tid, self.headers)
                calls.append(Call(("thread", tid, tuple(mids)), "threads.get", request))
            else:
                for mid in mids:
                    request = self.api.get_message(mid, self.headers)
                    calls.append(Call(("message", mid, (mid,)), "messages.get", request))
        return calls

    def _shape(
        self,
        call: Call,
        response: dict[str, Any] | None,
        records: list[MessageRecord],
        quarantined: list[QuarantineRecord],
    ) -> set[str]:
        """Append the records a response holds; returns the message ids it answered for."""
        if response is None:
            return set()
        messages = (response.get("messages") or []) if call.key[0] == "thread" else [response]
        got: set[str] = set()
        for message in messages:
            try:
                records.append(
                    message_record(self.account, message, include_subject=self.include_subject)
                )
            except UnusableMessageError as exc:
                quarantined.append(quarantine_record(self.account, message, str(exc)))
            if message.get("id"):
                got.add(message["id"])
        return got

    def _batch(
        self,
        records: list[MessageRecord],
        quarantined: list[QuarantineRecord],
        gone: Iterable[str],
        cursor_value: dict[str, Any] | None,
    ) -> Batch:
        deleted = [(self.account, mid) for mid in self._held(gone)]
        self.landed_now.update(r.message_key for r in records)
        self.report.messages += len(records)
        self.report.quarantined += len(quarantined)
        self.report.deletions += len(deleted)
        self.report.batches += 1
        cursor = (
            Cursor(self.account, SOURCE, STREAM, cursor_value) if cursor_value is not None else None
        )
        return Batch(
            messages=records, quarantine=quarantined, deleted_message_keys=deleted, cursor=cursor
        )

    def _held(self, gone: Iterable[str]) -> list[str]:
        """The keys of `gone` the store holds, each once per run; counts the others.

        History reports a deletion for a message added and deleted since the last run
        (never landed), a full sync sees messages vanish before they are fetched, and
        the history pass after a full sync reports those again: none of these is a
        deletion of anything the store has.
        """
        held: list[str] = []
        for mid in dict.fromkeys(gone):
            if mid in self.deleted_now:
                continue
            if mid not in self.landed_now and self.known_message_keys is not None:
                if self.held_before is None:
                    self.held_before = set(self.known_message_keys())
                if mid not in self.held_before:
                    self.report.deletions_not_held += 1
                    self.deleted_now.add(mid)
                    continue
            self.deleted_now.add(mid)
            held.append(mid)
        return held


class _Page(NamedTuple):
    """One page of the full listing: the token that lists it (None for the first)."""

    token: str | None
    ids: list[str]
    thread_ids: list[str]


def _thread_sizes(pages: list[_Page]) -> dict[str, int]:
    """Listed messages per thread id (a message listed twice counts once)."""
    thread_of: dict[str, str] = {}
    for page in pages:
        thread_of.update(zip(page.ids, page.thread_ids, strict=True))
    sizes: dict[str, int] = {}
    for tid in thread_of.values():
        sizes[tid] = sizes.get(tid, 0) + 1
    return sizes


def _changes(history: list[dict[str, Any]]) -> tuple[list[tuple[str, str]], list[str]]:
    """From history records, oldest first: messages to (re)fetch and messages deleted."""
    state: dict[str, str] = {}
    threads: dict[str, str] = {}
    for record in history:
        for kind in ("messagesAdded", "labelsAdded", "labelsRemoved"):
            for entry in record.get(kind) or []:
                message = entry.get("message") or {}
                mid = message.get("id")
                if mid and state.get(mid) != "delete":
                    state[mid] = "fetch"
                    threads[mid] = message.get("threadId") or mid
        for entry in record.get("messagesDeleted") or []:
            mid = (entry.get("message") or {}).get("id")
            if mid:
                state[mid] = "delete"
    fetch = [(mid, threads[mid]) for mid, action in state.items() if action == "fetch"]
    deleted = [mid for mid, action in state.items() if action == "delete"]
    return fetch, deleted
