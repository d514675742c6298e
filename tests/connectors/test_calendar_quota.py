"""Calendar requests within Google's per-user quota, and retried when told off.

The emulator and the client share one clock. With a ManualClock time only passes when
the client waits (for quota or a backoff), so a "minute" of quota costs no real time.
"""

from __future__ import annotations

from typing import Any

import pytest

from connectors.google import (
    CALENDAR_COSTS,
    CALENDAR_USER_REQUESTS_PER_MINUTE,
    CalendarSyncReport,
    ManualClock,
    QuotaLimiter,
    RetryPolicy,
)
from tests.emulators.calendar import StoredCalendar
from tests.emulators.helpers import CAL_ACCOUNT, ana_calendar, calendar_service, sync_primary
from tests.emulators.http import FaultPlan
from tests.emulators.memory import MemoryWarehouse

pytest_plugins = ["tests.emulators.plugin"]


def run(
    emulator: Any, limiter: QuotaLimiter, retry: RetryPolicy, page_size: int = 20
) -> tuple[MemoryWarehouse, CalendarSyncReport]:
    warehouse = MemoryWarehouse()
    report = CalendarSyncReport(CAL_ACCOUNT, "primary")
    batches = sync_primary(
        calendar_service(emulator), limiter=limiter, page_size=page_size, report=report, retry=retry
    )
    warehouse.apply_all(batches)
    return warehouse, report


def keys(calendar: StoredCalendar) -> set[str]:
    return {k for k, e in calendar.events.items() if e.status != "cancelled"} | {
        k for k, e in calendar.events.items() if e.details_kept(calendar.owner)
    }


def test_every_call_is_one_request_of_the_documented_ceiling() -> None:
    assert dict(CALENDAR_COSTS) == {"calendarList.list": 1, "events.list": 1}
    assert CALENDAR_USER_REQUESTS_PER_MINUTE == 600


def test_the_limiter_keeps_a_long_sync_under_the_server_ceiling(calendar_emulator_factory) -> None:
    clock = ManualClock()
    emulator = calendar_emulator_factory(units_per_minute=6, clock=clock.now)
    calendar = emulator.add_calendar(CAL_ACCOUNT, ana_calendar())
    limiter = QuotaLimiter.for_ceiling(6, headroom=0.5, clock=clock)

    warehouse, report = run(emulator, limiter, RetryPolicy(max_attempts=3))

    # 331 listed instances in pages of 20 (17 pages) and the incremental pass after: 18
    # requests. The bucket holds 3 and refills 3 a minute: 15 more take 300 s.
    assert report.pages == 18
    assert emulator.meter(CAL_ACCOUNT).rejected == 0 and report.stats.rate_limited == 0
    assert emulator.meter(CAL_ACCOUNT).max_in_window <= 6
    assert clock.now() == pytest.approx(300)
    assert set(warehouse.calendar(CAL_ACCOUNT, "primary")) == keys(calendar)


def test_429s_from_a_tighter_server_are_waited_out(calendar_emulator_factory) -> None:
    clock = ManualClock()
    emulator = calendar_emulator_factory(units_per_minute=5, clock=clock.now)
    calendar = emulator.add_calendar(CAL_ACCOUNT, ana_calendar())
    # The client believes in a far larger quota than this server grants.
    limiter = QuotaLimiter.for_ceiling(10_000, clock=clock)

    warehouse, report = run(emulator, limiter, RetryPolicy(max_attempts=12, base_delay=8))

    assert report.stats.rate_limited > 0
    assert report.stats.rate_limited == emulator.meter(CAL_ACCOUNT).rejected
    assert report.stats.retries == report.stats.rate_limited
    assert emulator.stats.statuses[429] == report.stats.rate_limited
    assert set(warehouse.calendar(CAL_ACCOUNT, "primary")) == keys(calendar)
    # Units: only the requests the server charged, not the refused ones.
    assert report.quota_units == emulator.meter(CAL_ACCOUNT).total == report.pages
    assert report.stats.slowdowns > 0


def test_lost_connections_are_counted_and_sent_again_by_keepwarm_only(
    calendar_emulator_factory,
) -> None:
    emulator = calendar_emulator_factory()
    calendar = emulator.add_calendar(CAL_ACCOUNT, ana_calendar())
    emulator.kill_next(3, "drop")  # httplib2 alone would re-send these unseen

    warehouse, report = run(
        emulator, QuotaLimiter.for_ceiling(10**6, clock=ManualClock()), RetryPolicy()
    )

    assert set(warehouse.calendar(CAL_ACCOUNT, "primary")) == keys(calendar)
    assert report.stats.transport_errors == emulator.stats.faults["drop"] == 3
    assert report.stats.http_requests == emulator.stats.requests
    assert report.quota_units == emulator.meter(CAL_ACCOUNT).total == report.pages


def test_random_rate_limit_answers_and_server_errors_are_retried(
    calendar_emulator_factory,
) -> None:
    emulator = calendar_emulator_factory(
        faults=FaultPlan(rate=0.3, seed=3, kinds=("429", "403", "503"))
    )
    calendar = emulator.add_calendar(CAL_ACCOUNT, ana_calendar())
    clock = ManualClock()
    limiter = QuotaLimiter.for_ceiling(10**6, clock=clock)

    warehouse, report = run(emulator, limiter, RetryPolicy(max_attempts=10))

    faults = emulator.stats.faults
    assert faults["429"] + faults["403"] == report.stats.rate_limited > 0
    assert faults["503"] == report.stats.server_errors
    assert set(warehouse.calendar(CAL_ACCOUNT, "primary")) == keys(calendar)
    assert report.events == len(keys(calendar))
