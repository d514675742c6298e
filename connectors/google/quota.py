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
    """A token bucket of quota units: `rate_per_minute` sustained, `burst` at most at once.

    In any window of 60 seconds at most `burst + rate_per_minute` units are let through,
    so `for_ceiling` splits a server's per-minute ceiling between the two and the server's
    limit is never crossed, whatever its window alignment. Thread-safe.
    """

    def __init__(self, rate_per_minute: float, burst: float, clock: Clock | None = None) -> None:
        if rate_per_minute <= 0 or burst <= 0:
            raise ValueError("rate_per_minute and burst must be positive")
        self.rate_per_minute = float(rate_per_minute)
        self.burst = float(burst)
        self.clock = clock or MonotonicClock()
        self._tokens = self.burst
        self._last = self.clock.now()
        self._lock = threading.Lock()
        self.units_granted = 0.0
        self.seconds_waited = 0.0

    @classmethod
    def for_ceiling(
        cls, units_per_minute: float, *, headroom: float = 0.05, clock: Clock | None = None
    ) -> QuotaLimiter:
        """A limiter that never exceeds `units_per_minute` in any 60-second window.

        `headroom` is the share of the ceiling kept as burst; the rest is the sustained
        rate, so a long sync runs at `1 - headroom` of the ceiling (95% by default).
        """
        if not 0 < headroom < 1:
            raise ValueError("headroom must be between 0 and 1")
        return cls(units_per_minute * (1 - headroom), units_per_minute * headroom, clock)

    @property
    def max_acquire(self) -> float:
        """The largest number of units one `acquire` may ask for."""
        return self.burst

    def acquire(self, units: float) -> float:
        """Take `units`, waiting for them if need be; returns the seconds waited."""
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

    def drain(self) -> None:
        """Empty the bucket: the server said we are over, so start again from nothing."""
        with self._lock:
            self._refill()
            self._tokens = min(self._tokens, 0.0)

    def _refill(self) -> None:
        now = self.clock.now()
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate_per_minute / 60.0)
