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
from typing import Any

import httplib2
import pytest
from googleapiclient.errors import BatchError, HttpError

from connectors.google import (
    GMAIL_COSTS,
    ManualClock,
    QuotaLimiter,
    RetriesExhaustedError,
    RetryPolicy,
    SyncReport,
    sync_gmail,
)
from connectors.google.retry import classify, error_reason
from tests.emulators.gmail import FaultPlan
from tests.emulators.helpers import TAKEOUT_MBOX, gmail_service, mbox_mailbox
from tests.emulators.memory import MemoryWarehouse
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


def test_drain_makes_the_next_call_wait() -> None:
    clock = ManualClock()
    limiter = QuotaLimiter(rate_per_minute=60, burst=10, clock=clock)
    limiter.drain()
    assert limiter.acquire(5) == pytest.approx(5.0)


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
