"""Client-side quota: clocks and a token bucket measured in an API's quota units.

Google meters most Workspace APIs in "quota units" per user per minute, where each method
costs a fixed number of units (Gmail: messages.get 5, threads.get 10, ...). Staying under
the ceiling on our side is cheaper than being told off with 429s and backing off: every
rejected call is a wasted round trip and, in a batch, a sub-request to send again.

Nothing here knows which API it meters; the Gmail and Calendar connectors both use it.
Time comes from an injectable `Clock` so tests and benchmarks can run a "minute" in a
fraction of a second (`ScaledClock`) or not at all (`ManualClock`).
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Seconds on a monotonic scale, and a way to wait on that scale."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    """The real clock."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class ScaledClock:
    """Simulated seconds that pass `scale` times faster than real ones.

    A limiter and an emulator sharing one ScaledClock(600) agree that a minute lasts a
    tenth of a real second, so per-minute quotas can be exercised in a fast test.
    """

    def __init__(self, scale: float) -> None:
        if scale <= 0:
            raise ValueError("scale must be positive")
        self.scale = scale
        self._origin = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self._origin) * self.scale

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.scale)


class ManualClock:
    """A clock that only moves when someone sleeps on it (for unit tests)."""

    def __init__(self, start: float = 0.0) -> None:
        self.t = start
        self.slept: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.slept.append(seconds)
            self.t += seconds


class QuotaLimiter:
    """A token bucket of quota units that slows down when the server refuses calls.

    `rate_per_minute` sustained and `burst` at most at once: in any window of 60 seconds
    at most `burst + rate_per_minute` units are let through, so `for_ceiling` splits a
    per-minute ceiling between the two and that ceiling is never crossed, whatever the
    server's window alignment.

    The ceiling is what the user configured; the server's real quota may be lower (a
    project created since May 2026 gets 6,000 Gmail units per user per minute, not
    15,000). So the sustained rate adapts, AIMD-style: each burst of refusals (429, or
    403 rateLimitExceeded) halves it, down to `min_share` of the configured rate, and it
    climbs back by `recovery` of the configured rate per minute, never above it.
    Refusals of calls granted before the last slow-down belong to the burst that already
    caused it and only empty the bucket: one batch of 50 refused calls halves the rate
    once, not 50 times. Thread-safe.
    """

    def __init__(
        self,
        rate_per_minute: float,
        burst: float,
        clock: Clock | None = None,
        *,
        min_share: float = 1 / 64,
        recovery: float = 0.05,
    ) -> None:
        if rate_per_minute <= 0 or burst <= 0:
            raise ValueError("rate_per_minute and burst must be positive")
        if not 0 < min_share <= 1 or recovery < 0:
            raise ValueError("min_share must be in (0, 1] and recovery not negative")
        self.max_rate_per_minute = float(rate_per_minute)
        self.rate_per_minute = self.max_rate_per_minute
        self.min_rate_per_minute = self.max_rate_per_minute * min_share
        self.recovery_per_minute = self.max_rate_per_minute * recovery
        self.burst = float(burst)
        self.clock = clock or MonotonicClock()
        self._tokens = self.burst
        self._last = self.clock.now()
        self._lock = threading.Lock()
        self.units_granted = 0.0
        self.seconds_waited = 0.0
        self.generation = 0  # slow-downs so far; a grant remembers the one it was made in
        self.lowest_rate_per_minute = self.rate_per_minute

    @classmethod
    def for_ceiling(
        cls,
        units_per_minute: float,
        *,
        headroom: float = 0.05,
        clock: Clock | None = None,
        **adapt: float,
    ) -> QuotaLimiter:
        """A limiter that never exceeds `units_per_minute` in any 60-second window.

        `headroom` is the share of the ceiling kept as burst; the rest is the sustained
        rate, so a long sync runs at `1 - headroom` of the ceiling (95% by default)
        unless the server refuses calls. `adapt`: `min_share` and `recovery`.
        """
        if not 0 < headroom < 1:
            raise ValueError("headroom must be between 0 and 1")
        return cls(units_per_minute * (1 - headroom), units_per_minute * headroom, clock, **adapt)

    @property
    def max_acquire(self) -> float:
        """The largest number of units one `acquire` may ask for."""
        return self.burst

    def acquire(self, units: float) -> float:
        """Take `units`, waiting for them if need be; returns the seconds waited.

        Read `generation` before acquiring and pass it to `slow_down` if the server
        refuses the call.
        """
        if units > self.burst:
            raise ValueError(
                f"a call of {units} units can never fit a bucket of {self.burst:g}; "
                "send smaller batches or raise the ceiling"
            )
        waited = 0.0
        while True:
            with self._lock:
                self._refill()
                # A hair of tolerance: float refill can fall short by one ulp, and a
                # wait of 1e-16 s would not move a clock that reads 1e3.
                if self._tokens >= units - 1e-9:
                    self._tokens -= units
                    self.units_granted += units
                    self.seconds_waited += waited
                    return waited
                wait = (units - self._tokens) * 60.0 / self.rate_per_minute
            self.clock.sleep(wait)
            waited += wait

    def slow_down(self, granted_in: int) -> bool:
        """The server refused a call granted in generation `granted_in`: empty the
        bucket, and halve the rate unless an earlier refusal of the same burst already
        did. Returns whether the rate was halved."""
        with self._lock:
            self._refill()
            self._tokens = min(self._tokens, 0.0)
            if granted_in < self.generation:
                return False
            self.generation += 1
            self.rate_per_minute = max(self.min_rate_per_minute, self.rate_per_minute / 2)
            self.lowest_rate_per_minute = min(self.lowest_rate_per_minute, self.rate_per_minute)
            return True

    def _refill(self) -> None:
        now = self.clock.now()
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate_per_minute / 60.0)
        self.rate_per_minute = min(
            self.max_rate_per_minute, self.rate_per_minute + elapsed * self.recovery_per_minute / 60
        )
