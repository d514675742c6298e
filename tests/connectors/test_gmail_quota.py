"""Quota limiter, backoff and batch retries: unit tests, then against the emulator.

The emulator and the client share one clock. With a ManualClock, time only passes when
the client waits (for quota or backoff), so a "minute" of Gmail quota costs no real time
and the tests are exact about it.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
from collections import Counter
from typing import Any

import httplib2
import pytest
from google.oauth2.credentials import Credentials
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.errors import BatchError, HttpError

from connectors.google import (
    GMAIL_COSTS,
    GMAIL_COSTS_2026,
    ManualClock,
    QuotaLimiter,
    RetriesExhaustedError,
    RetryPolicy,
    SyncReport,
    sync_gmail,
)
from connectors.google.discovery import build_shipped_service
from connectors.google.retry import classify, error_reason
from connectors.google.transport import ConnectionLostError
from tests.emulators.gmail import COSTS_2026, FaultPlan
from tests.emulators.helpers import HAM_MBOX, TAKEOUT_MBOX, gmail_service, mbox_mailbox
from tests.emulators.memory import MemoryWarehouse, apply_in_order
from tests.emulators.synthetic import synthetic_mailbox

pytest_plugins = ["tests.emulators.plugin"]

ACCOUNT = "samuelchan@gmail.com"


# ------------------------------------------------------------------ the token bucket


def test_limiter_never_exceeds_the_ceiling_in_any_minute() -> None:
    clock = ManualClock()
    limiter = QuotaLimiter.for_ceiling(1000, clock=clock)
    rng = random.Random(5)
    grants: list[tuple[float, int]] = []
    for _ in range(3000):
        units = rng.choice((1, 2, 5, 10, 50))
        limiter.acquire(units)
        grants.append((clock.now(), units))
        clock.t += rng.choice((0.0, 0.0, 0.01, 0.5))  # time spent on the request
    # Every window of 60 s starting at a grant (the worst alignment) holds <= 1000 units.
    j = 0
    in_window = 0
    for i, (t, _) in enumerate(grants):
        while j < len(grants) and grants[j][0] < t + 60:
            in_window += grants[j][1]
            j += 1
        assert in_window <= 1000
        in_window -= grants[i][1]
    # And the long-run rate is the sustained 95%.
    minutes = grants[-1][0] / 60
    assert sum(u for _, u in grants) / minutes == pytest.approx(950, rel=0.03)


def test_limiter_refuses_a_call_bigger_than_its_burst() -> None:
    limiter = QuotaLimiter.for_ceiling(100, clock=ManualClock())
    with pytest.raises(ValueError, match="never fit"):
        limiter.acquire(6)


def test_a_refusal_empties_the_bucket_and_halves_the_rate() -> None:
    clock = ManualClock()
    limiter = QuotaLimiter(rate_per_minute=60, burst=10, clock=clock, recovery=0)
    assert limiter.slow_down(limiter.generation)
    assert limiter.rate_per_minute == 30
    # An empty bucket refilling at 30 units a minute: 5 units take 10 s.
    assert limiter.acquire(5) == pytest.approx(10.0)


def test_refusals_of_one_burst_halve_the_rate_once() -> None:
    limiter = QuotaLimiter(rate_per_minute=800, burst=100, clock=ManualClock(), recovery=0)
    granted_in = limiter.generation
    limiter.acquire(50)
    limiter.acquire(50)
    # Both calls come back refused: the second refusal is news of the same burst.
    assert limiter.slow_down(granted_in) is True
    assert limiter.slow_down(granted_in) is False
    assert limiter.rate_per_minute == 400
    # A call granted after the slow-down and refused again: the rate halves again.
    granted_in = limiter.generation
    limiter.acquire(10)
    assert limiter.slow_down(granted_in) is True
    assert limiter.rate_per_minute == 200


def test_the_rate_recovers_linearly_up_to_the_ceiling_and_never_falls_below_the_floor() -> None:
    clock = ManualClock()
    limiter = QuotaLimiter(
        rate_per_minute=640, burst=100, clock=clock, min_share=1 / 16, recovery=0.1
    )
    for _ in range(10):
        limiter.slow_down(limiter.generation)
    assert limiter.rate_per_minute == 40  # 640 / 16, not 640 / 1024
    clock.t += 60  # a minute without refusals regains 10% of 640
    limiter.acquire(1)
    assert limiter.rate_per_minute == pytest.approx(104)
    clock.t += 3600
    limiter.acquire(1)
    assert limiter.rate_per_minute == 640


# ------------------------------------------------------------------ what is retried


def _http_error(status: int, reason: str | None = None) -> HttpError:
    body = {"error": {"code": status, "message": "x", "errors": [{"reason": reason}]}}
    return HttpError(httplib2.Response({"status": status}), json.dumps(body).encode())


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (_http_error(429, "rateLimitExceeded"), "quota"),
        (_http_error(403, "userRateLimitExceeded"), "quota"),
        (_http_error(403, "rateLimitExceeded"), "quota"),
        (_http_error(403, "forbidden"), None),
        (_http_error(403, "insufficientPermissions"), None),
        (_http_error(400, "invalidArgument"), None),
        (_http_error(401, "authError"), None),
        (_http_error(404, "notFound"), None),
        (_http_error(500, "backendError"), "server"),
        (_http_error(502), "server"),
        (_http_error(503, "backendError"), "server"),
        (_http_error(504), "server"),
        (ConnectionResetError(104, "reset"), "transport"),
        (http.client.RemoteDisconnected("closed"), "transport"),
        (http.client.IncompleteRead(b"", 10), "transport"),
        (TimeoutError("timed out"), "transport"),
        (socket.gaierror(-2, "Name or service not known"), "transport"),
        (httplib2.ServerNotFoundError("dns"), "transport"),
        (BatchError("bad multipart"), "transport"),
        (ValueError("a bug"), None),
    ],
)
def test_what_is_worth_retrying(exc: BaseException, kind: str | None) -> None:
    assert classify(exc) == kind


def test_error_reason_reads_googles_error_body() -> None:
    assert error_reason(_http_error(403, "userRateLimitExceeded")) == "userRateLimitExceeded"
    assert error_reason(HttpError(httplib2.Response({"status": 500}), b"<html>")) is None


def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=64.0, rng=random.Random(0))
    for attempt in range(1, 12):
        cap = min(64.0, 2 ** (attempt - 1))
        waits = [policy.delay(attempt) for _ in range(200)]
        assert all(0 <= w <= cap for w in waits)
        assert max(waits) > 0.8 * cap and min(waits) < 0.2 * cap  # spread over [0, cap]


# ------------------------------------------------------------------ against the emulator


def test_the_limiter_keeps_the_emulator_below_its_ceiling(gmail_emulator_factory: Any) -> None:
    clock = ManualClock()
    emulator = gmail_emulator_factory(units_per_minute=600, clock=clock.now)
    box = emulator.add_mailbox(mbox_mailbox(TAKEOUT_MBOX))
    warehouse = MemoryWarehouse()
    report = SyncReport(account=ACCOUNT)

    batches = sync_gmail(
        gmail_service(emulator),
        ACCOUNT,
        None,
        limiter=QuotaLimiter.for_ceiling(600, clock=clock),
        report=report,
    )
    warehouse.apply_all(batches)

    meter = emulator.quota[box.address]
    assert len(warehouse.messages) == len(box.messages)
    assert emulator.stats.quota_rejections == 0 and report.stats.rate_limited == 0
    assert meter.max_in_window <= 600
    minutes = clock.now() / 60
    assert minutes > 1  # the sync needed more than one minute of quota
    assert meter.total / (minutes * 600) > 0.90  # and used over 90% of the ceiling


def test_without_a_limiter_429s_are_absorbed_by_backoff(gmail_emulator_factory: Any) -> None:
    clock = ManualClock()
    emulator = gmail_emulator_factory(units_per_minute=600, clock=clock.now)
    box = emulator.add_mailbox(mbox_mailbox(TAKEOUT_MBOX))
    warehouse = MemoryWarehouse()
    report = SyncReport(account=ACCOUNT)

    batches = sync_gmail(
        gmail_service(emulator),
        ACCOUNT,
        None,
        limiter=QuotaLimiter.for_ceiling(10**6, clock=clock),  # far above the server's
        retry=RetryPolicy(max_attempts=20, base_delay=1.0, rng=random.Random(3)),
        report=report,
    )
    warehouse.apply_all(batches)

    assert len(warehouse.messages) == len(box.messages)
    assert emulator.stats.quota_rejections > 0
    assert report.stats.rate_limited == emulator.stats.quota_rejections


def test_failed_batch_parts_are_retried_individually(gmail_emulator_factory: Any) -> None:
    emulator = gmail_emulator_factory(
        faults=FaultPlan(rate=0.3, seed=1, kinds=("503",), where=("parts",))
    )
    box = emulator.add_mailbox(synthetic_mailbox(400, address=ACCOUNT, seed=9))
    warehouse = MemoryWarehouse()
    report = SyncReport(account=ACCOUNT)
    batches = sync_gmail(
        gmail_service(emulator),
        ACCOUNT,
        None,
        limiter=QuotaLimiter.for_ceiling(10**9),
        retry=RetryPolicy(max_attempts=10, base_delay=0.001, rng=random.Random(2)),
        report=report,
    )
    warehouse.apply_all(batches)
    assert len(warehouse.messages) == len(box.messages)
    failed_parts = emulator.stats.faults["503"]
    assert failed_parts > 20
    # Only the failed parts were sent again, not the batches they were in.
    assert report.retries == failed_parts
    assert emulator.stats.batch_parts == sum(
        n for m, n in report.calls.items() if m in ("messages.get", "threads.get")
    )


def test_a_call_that_never_succeeds_gives_up(gmail_emulator_factory: Any) -> None:
    emulator = gmail_emulator_factory(faults=FaultPlan(rate=1.0, kinds=("503",), where=("parts",)))
    emulator.add_mailbox(mbox_mailbox(TAKEOUT_MBOX))
    batches = sync_gmail(
        gmail_service(emulator),
        ACCOUNT,
        None,
        limiter=QuotaLimiter.for_ceiling(10**9),
        retry=RetryPolicy(max_attempts=3, base_delay=0.001),
    )
    with pytest.raises(RetriesExhaustedError, match="failed 3 times"):
        list(batches)


def test_quota_costs_are_googles() -> None:
    assert GMAIL_COSTS == {
        "users.getProfile": 1,
        "messages.list": 5,
        "messages.get": 5,
        "threads.get": 10,
        "history.list": 2,
    }


# ------------------------------------------------------------------ honest figures


def _full_sync_over_quota(
    emulator: Any, limiter: QuotaLimiter, **kwargs: Any
) -> tuple[MemoryWarehouse, SyncReport]:
    warehouse = MemoryWarehouse()
    report = SyncReport(account=ACCOUNT)
    batches = sync_gmail(
        gmail_service(emulator),
        ACCOUNT,
        warehouse.cursor(ACCOUNT),
        limiter=limiter,
        report=report,
        costs=GMAIL_COSTS_2026,
        retry=RetryPolicy(max_attempts=30, rng=random.Random(0)),
        known_message_keys=lambda: warehouse.keys(ACCOUNT),
        **kwargs,
    )
    warehouse.apply_all(batches)
    return warehouse, report


@pytest.mark.parametrize(("adaptive", "refused_share"), [(True, (0, 0.10)), (False, (0.30, 1))])
def test_a_ceiling_above_the_real_quota_slows_down_instead_of_being_refused(
    gmail_emulator_factory: Any, adaptive: bool, refused_share: tuple[float, float]
) -> None:
    """A project created since May 2026 has 6,000 units a minute and the higher method
    costs; the user left the ceiling at the 15,000 of older projects. Adaptive: the
    limiter halves its rate on each burst of 429s. Not adaptive (`min_share=1`: the rate
    never falls, only the bucket is emptied): what keepwarm did before, ~40% refused."""
    clock = ManualClock()
    emulator = gmail_emulator_factory(units_per_minute=6000, clock=clock.now, costs=COSTS_2026)
    box = emulator.add_mailbox(synthetic_mailbox(3000, address=ACCOUNT, seed=1))
    fixed = {} if adaptive else {"min_share": 1}
    limiter = QuotaLimiter.for_ceiling(15_000, clock=clock, **fixed)

    warehouse, report = _full_sync_over_quota(emulator, limiter)

    assert warehouse.keys(ACCOUNT) == set(box.messages)
    meter = emulator.quota[box.address]
    calls_sent = sum(report.calls.values())
    assert emulator.stats.batch_parts + emulator.stats.requests - emulator.stats.batches == (
        calls_sent
    )
    low, high = refused_share
    assert low < meter.rejected / calls_sent < high
    # Every figure is the server's own.
    assert report.quota_units == meter.total
    assert report.rate_limited == meter.rejected == emulator.stats.statuses[429]
    assert report.stats.http_requests == emulator.stats.requests
    assert report.transport_errors == report.stats.units_in_doubt == 0
    if adaptive:
        assert report.stats.slowdowns > 0
        assert report.stats.lowest_units_per_minute < 6000 * 0.95


def test_every_figure_matches_what_the_server_counted(gmail_emulator_factory: Any) -> None:
    """Refusals, server errors and lost connections (dropped, reset, cut off mid-body)
    on a full sync and then an incremental one, against the emulator's own counters."""
    clock = ManualClock()
    emulator = gmail_emulator_factory(
        units_per_minute=6000,
        clock=clock.now,
        costs=COSTS_2026,
        faults=FaultPlan(rate=0.1, seed=7, kinds=("503", "429"), where=("parts",)),
    )
    box = emulator.add_mailbox(synthetic_mailbox(800, address=ACCOUNT, seed=3))
    limiter = QuotaLimiter.for_ceiling(15_000, clock=clock)
    warehouse = MemoryWarehouse()
    kills = iter(["drop", "reset", "truncate"] * 4)

    def apply(batch: Any) -> None:
        warehouse.apply(batch)
        # Lose the connection of the next request, now and then.
        if warehouse.applied % 3 == 1:
            emulator.kill_next(1, next(kills, "drop"))

    def run(seed: int) -> SyncReport:
        report = SyncReport(account=ACCOUNT)
        batches = sync_gmail(
            gmail_service(emulator),
            ACCOUNT,
            warehouse.cursor(ACCOUNT),
            limiter=limiter,
            report=report,
            costs=GMAIL_COSTS_2026,
            retry=RetryPolicy(max_attempts=30, rng=random.Random(seed)),
            known_message_keys=lambda: warehouse.keys(ACCOUNT),
        )
        apply_in_order(apply, batches)
        return report

    full = run(0)
    assert warehouse.keys(ACCOUNT) == set(box.messages)

    # Between runs: 30 landed messages deleted, 5 new ones kept, 4 delivered and
    # deleted again before the next run (history reports their deletion; never landed).
    rng = random.Random(5)
    for mid in rng.sample(sorted(box.messages), 30):
        box.delete_message(mid)
    for i in range(5):
        box.add_message([("From", f"kept{i}@example.org"), ("To", ACCOUNT)])
    for i in range(4):
        box.delete_message(box.add_message([("From", f"brief{i}@example.org"), ("To", ACCOUNT)]))
    deleted_before = warehouse.rows_deleted
    report = run(1)
    assert report.mode == "incremental"
    assert warehouse.keys(ACCOUNT) == set(box.messages)
    assert report.deletions == warehouse.rows_deleted - deleted_before == 30
    assert report.deletions_not_held == 4

    stats = emulator.stats
    faults = stats.faults
    both = [full.stats, report.stats]
    assert min(faults["drop"], faults["reset"], faults["truncate"], faults["503"]) > 0
    meter = emulator.quota[box.address]
    assert faults["429"] > 0
    # What the server answered, less the answers it then cut off mid-body: the client
    # never saw those (it counts their units among the units in doubt).
    unseen = stats.statuses_cut_off
    charged = sum(s.quota_units for s in both)
    assert charged + stats.units_cut_off == meter.total
    assert charged <= meter.total <= charged + sum(s.units_in_doubt for s in both)
    assert sum(s.rate_limited for s in both) == meter.rejected + faults["429"] - unseen[429]
    assert sum(s.server_errors for s in both) == faults["503"] - unseen[503]
    assert sum(s.transport_errors for s in both) == (
        faults["drop"] + faults["reset"] + faults["truncate"]
    )
    # Each request sent once: no connection was re-sent behind keepwarm's back.
    assert sum(s.http_requests for s in both) == stats.requests


def test_httplib2_resends_a_dropped_request_unseen_and_keepwarms_client_does_not(
    gmail_emulator: Any,
) -> None:
    gmail_emulator.add_mailbox(mbox_mailbox(TAKEOUT_MBOX))
    stock = build_shipped_service(
        "gmail",
        "v1",
        api_endpoint=gmail_emulator.endpoint,
        http=AuthorizedHttp(Credentials(token="test-token"), http=httplib2.Http()),
    )
    ours = gmail_service(gmail_emulator)
    for service in (stock, ours):
        service.users().getProfile(userId="me").execute()  # a kept-alive connection

    gmail_emulator.kill_next(1, "drop")
    before = gmail_emulator.stats.requests
    assert stock.users().getProfile(userId="me").execute()["emailAddress"] == ACCOUNT
    assert gmail_emulator.stats.requests - before == 2  # one call, sent twice

    gmail_emulator.kill_next(1, "drop")
    before = gmail_emulator.stats.requests
    with pytest.raises(ConnectionLostError):
        ours.users().getProfile(userId="me").execute()
    assert gmail_emulator.stats.requests - before == 1

    # keepwarm's retry sees it, counts it and sends again itself.
    gmail_emulator.kill_next(1, "drop")
    before = gmail_emulator.stats.requests
    report = SyncReport(account=ACCOUNT)
    list(
        sync_gmail(
            ours,
            ACCOUNT,
            None,
            limiter=QuotaLimiter.for_ceiling(10**9),
            retry=RetryPolicy(base_delay=0.001),
            report=report,
        )
    )
    assert report.transport_errors == 1
    assert report.stats.http_requests == gmail_emulator.stats.requests - before


def test_deletions_count_only_keys_the_store_held(gmail_emulator_factory: Any) -> None:
    """A message that vanishes during the full sync is never landed: neither the
    listing's 404 nor the history pass right after it is a deletion."""
    emulator = gmail_emulator_factory()
    box = emulator.add_mailbox(mbox_mailbox(TAKEOUT_MBOX))
    newest_first = [mid for _, mid in box.ordered()]
    doomed = newest_first[-1]  # listed on the first page, fetched in the last batch
    warehouse = MemoryWarehouse()
    report = SyncReport(account=ACCOUNT)

    def apply(batch: Any) -> None:
        warehouse.apply(batch)
        if doomed in box.messages:
            box.delete_message(doomed)

    apply_in_order(
        apply,
        sync_gmail(
            gmail_service(emulator),
            ACCOUNT,
            None,
            limiter=QuotaLimiter.for_ceiling(10**9),
            max_batch=20,
            report=report,
            known_message_keys=lambda: warehouse.keys(ACCOUNT),
        ),
    )
    assert warehouse.keys(ACCOUNT) == set(box.messages) == set(newest_first) - {doomed}
    assert report.deletions == warehouse.rows_deleted == 0
    assert report.deletions_not_held == 1

    # A resync after expired history prunes what the mailbox lost since: counted once.
    gone = newest_first[:7]
    for mid in gone:
        box.delete_message(mid)
    box.expire_history()
    report = SyncReport(account=ACCOUNT)
    warehouse.apply_all(
        sync_gmail(
            gmail_service(emulator),
            ACCOUNT,
            warehouse.cursor(ACCOUNT),
            limiter=QuotaLimiter.for_ceiling(10**9),
            report=report,
            known_message_keys=lambda: warehouse.keys(ACCOUNT),
        )
    )
    assert report.mode == "full_after_404"
    assert warehouse.keys(ACCOUNT) == set(box.messages)
    assert report.deletions == warehouse.rows_deleted == len(gone)
    assert report.deletions_not_held == 0


# ------------------------------------------------------------------ the full sync's plan


def _optimum(box: Any, ids_per_page: int = 500) -> dict[str, int]:
    """What the cheapest full sync of `box` costs, from the emulator's own state: every
    thread at min(n x messages.get, threads.get) over its n messages, one listing, one
    getProfile, and the history.list that follows."""
    sizes = Counter(m.thread_id for m in box.messages.values())
    fetching = sum(min(5 * n, 10) for n in sizes.values())
    pages = -(-len(box.messages) // ids_per_page)
    return {"fetch": fetching, "listing": 5 * pages, "pages": pages,
            "total": fetching + 5 * pages + 1 + 2}  # fmt: skip


@pytest.mark.parametrize("mailbox", ["synthetic", "ham"])
def test_a_first_full_sync_spends_the_optimum_whatever_the_thread_ids(
    gmail_emulator: Any, mailbox: str
) -> None:
    """A server that does not name threads after their first message (every thread id is
    random here): the plan still fetches each thread at min(5n, 10) units, and a first
    sync does not list the mailbox a second time to look for stale rows."""
    box = (
        synthetic_mailbox(3_000, address=ACCOUNT, seed=4)
        if mailbox == "synthetic"
        else mbox_mailbox(HAM_MBOX)
    )
    box.renumber_threads(seed=11)
    assert not {m.thread_id for m in box.messages.values()} & set(box.messages)
    gmail_emulator.add_mailbox(box)
    expected = _optimum(box)
    warehouse = MemoryWarehouse()
    report = SyncReport(account=ACCOUNT)

    warehouse.apply_all(
        sync_gmail(
            gmail_service(gmail_emulator),
            ACCOUNT,
            None,
            limiter=QuotaLimiter.for_ceiling(10**9),
            report=report,
            known_message_keys=lambda: warehouse.keys(ACCOUNT),
        )
    )

    assert warehouse.keys(ACCOUNT) == set(box.messages)
    assert gmail_emulator.quota[box.address].total == report.quota_units == expected["total"]
    calls = gmail_emulator.stats.calls
    assert calls["gmail.users.messages.list"] == expected["pages"]  # no second listing
    sizes = Counter(m.thread_id for m in box.messages.values())
    assert calls["gmail.users.threads.get"] == sum(1 for n in sizes.values() if n >= 2)
    assert calls["gmail.users.messages.get"] == sum(1 for n in sizes.values() if n == 1)
    assert warehouse.cursor(ACCOUNT)["phase"] == "incremental"


def test_a_sync_with_rows_already_held_still_looks_for_stale_ones(gmail_emulator: Any) -> None:
    """Not a first sync (the warehouse holds this account's keys, no cursor): rows held
    from before may be gone from the mailbox, so the id-only listing still runs."""
    box = gmail_emulator.add_mailbox(mbox_mailbox(TAKEOUT_MBOX))
    warehouse = MemoryWarehouse()
    warehouse.apply_all(
        sync_gmail(
            gmail_service(gmail_emulator),
            ACCOUNT,
            None,
            limiter=QuotaLimiter.for_ceiling(10**9),
            known_message_keys=lambda: warehouse.keys(ACCOUNT),
        )
    )
    pages = _optimum(box)["pages"]
    assert gmail_emulator.stats.calls["gmail.users.messages.list"] == pages
    gone = box.ordered()[0][1]
    box.delete_message(gone)
    before = gmail_emulator.stats.calls["gmail.users.messages.list"]

    warehouse.apply_all(
        sync_gmail(
            gmail_service(gmail_emulator),
            ACCOUNT,
            None,  # the cursor was lost; the rows were not
            limiter=QuotaLimiter.for_ceiling(10**9),
            known_message_keys=lambda: warehouse.keys(ACCOUNT),
        )
    )
    assert gmail_emulator.stats.calls["gmail.users.messages.list"] - before == 2 * pages
    assert warehouse.keys(ACCOUNT) == set(box.messages)
    assert gone not in warehouse.keys(ACCOUNT)
