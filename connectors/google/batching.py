"""Calling a Google API through googleapiclient with a quota limiter, retries and batches.

googleapiclient sends a batch as one HTTP request but leaves each sub-request's failure
to the caller: a 429 or a 503 on call 17 of 50 simply arrives in its callback. The caller
here puts those calls back in the queue for a later batch (after a jittered backoff), so
a batch either yields a result for every call or keeps trying the ones that failed.

Quota is charged per sub-request (Google counts a batch of n calls as n calls), so every
batch is sized to fit the limiter's burst and takes its units before it is sent.

What the statistics call charged. Google's usage-limits pages give each method's cost
and the per-minute ceilings, and say a batch of n calls counts as n; they do not say
what a refused call costs. keepwarm counts a call's units as charged when the server
answered it: a success, or an error about the call itself (400, 404, 410: the server
looked). A call refused at the door (401, 403, 429: the rate limit refuses before the
work is done), failed by the server (5xx) or lost in transit is not counted as charged;
the units of a call lost in transit, which the server may have answered before the
connection broke, are counted apart as `units_in_doubt`. The local emulator meters the
same way (tests/emulators/http.py), so the figures can be checked against its meter.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest, HttpRequest

from connectors.google.quota import Clock, MonotonicClock, QuotaLimiter
from connectors.google.retry import RetriesExhaustedError, RetryPolicy, classify

log = logging.getLogger(__name__)

MAX_BATCH_CALLS = 50  # Google: "larger batch sizes are likely to trigger rate limiting"


# Answers that refuse a call before any work is done, or fail it: not charged.
_NOT_CHARGED = frozenset({401, 403, 429})


def _charged(exc: HttpError) -> bool:
    """Whether a call answered with this error still cost its units (see above)."""
    status = exc.resp.status if exc.resp is not None else 0
    return status < 500 and status not in _NOT_CHARGED


@dataclass
class CallStats:
    """What talking to the API cost: calls per method, units, failures and waits.

    Attributes:
        calls: calls sent per method, retries included.
        quota_units: units of the calls the server answered (see the module docstring).
        units_in_doubt: units of calls lost in transit, which the server may have
            charged before the connection broke.
        http_requests: HTTP requests sent (a batch is one); each was sent once, so this
            is what the server received.
        batches: batch requests among them.
        retries: calls sent again after a retryable failure.
        rate_limited: answers refusing calls for the rate limit (429, or 403
            rateLimitExceeded / userRateLimitExceeded); a refused part of a batch counts
            once, a batch refused as a whole counts once.
        server_errors: 5xx answers, counted the same way.
        transport_errors: HTTP requests that got no usable answer (connection refused,
            reset or dropped, a body cut off, a batch reply that did not parse).
        slowdowns: times the limiter halved its rate after refusals.
        lowest_units_per_minute: the lowest sustained rate the limiter fell to.
        throttled_seconds: time spent waiting for the limiter.
        backoff_seconds: time spent in backoff waits before retries.
    """

    calls: Counter[str] = field(default_factory=Counter)
    quota_units: int = 0
    units_in_doubt: int = 0
    http_requests: int = 0
    batches: int = 0
    retries: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    transport_errors: int = 0
    slowdowns: int = 0
    lowest_units_per_minute: float | None = None
    throttled_seconds: float = 0.0
    backoff_seconds: float = 0.0

    def record_failure(self, kind: str) -> None:
        if kind == "quota":
            self.rate_limited += 1
        elif kind == "server":
            self.server_errors += 1
        else:
            self.transport_errors += 1


@dataclass
class Call:
    """One API call to make, possibly inside a batch.

    Attributes:
        key: the caller's handle for the result.
        method: the method name used for quota costs ("messages.get").
        request: the googleapiclient request.
        missing_ok: a 404 answers None instead of raising (the thing was deleted).
    """

    key: Any
    method: str
    request: HttpRequest
    missing_ok: bool = True
    attempt: int = 0


class GoogleCaller:
    """Executes calls one by one or in batches, within quota, retrying what is retryable.

    Args:
        new_batch: makes an empty BatchHttpRequest aimed at the right endpoint.
        limiter: the quota bucket of the account being read.
        costs: quota units per method name.
        policy: retry policy; its rng gives the jitter.
        clock: where backoff waits happen (a ScaledClock in tests).
        stats: where to count calls and failures.
        max_batch: calls per batch, at most 50.
    """

    def __init__(
        self,
        new_batch: Callable[[], BatchHttpRequest],
        *,
        limiter: QuotaLimiter,
        costs: Mapping[str, int],
        policy: RetryPolicy | None = None,
        clock: Clock | None = None,
        stats: CallStats | None = None,
        max_batch: int = MAX_BATCH_CALLS,
    ) -> None:
        if not 1 <= max_batch <= MAX_BATCH_CALLS:
            raise ValueError(f"max_batch must be between 1 and {MAX_BATCH_CALLS}")
        self.new_batch = new_batch
        self.limiter = limiter
        self.costs = costs
        self.policy = policy or RetryPolicy()
        self.clock = clock or MonotonicClock()
        self.stats = stats if stats is not None else CallStats()
        self.max_batch = max_batch

    def execute(self, method: str, request: HttpRequest, *, missing_ok: bool = False) -> Any:
        """Run one call with retries; None for a 404 when `missing_ok`."""
        attempt = 0
        cost = self.costs[method]
        while True:
            generation = self._take(cost)
            self.stats.calls[method] += 1
            self.stats.http_requests += 1
            try:
                response = request.execute(num_retries=0)
            except HttpError as exc:
                if _charged(exc):
                    self.stats.quota_units += cost
                if exc.resp.status == 404 and missing_ok:
                    return None
                attempt = self._retry_or_raise(exc, attempt, method, generation)
            except Exception as exc:
                if classify(exc) == "transport":
                    self.stats.units_in_doubt += cost
                attempt = self._retry_or_raise(exc, attempt, method, generation)
            else:
                self.stats.quota_units += cost
                return response
            self._back_off(attempt)

    def execute_many(self, calls: Iterable[Call]) -> Iterator[list[tuple[Call, Any]]]:
        """Run calls in batches; yields, batch by batch, the calls that completed.

        Each yielded item is (call, response), response None for a 404 of a `missing_ok`
        call. Calls that failed in a retryable way come back in a later batch.
        """
        pending = deque(calls)
        while pending:
            chunk = self._next_chunk(pending)
            done, failed = self._run_batch(chunk)
            if done:
                yield done
            if failed:
                for call in reversed(failed):
                    pending.appendleft(call)
                self._back_off(max(call.attempt for call in failed))

    def _next_chunk(self, pending: deque[Call]) -> list[Call]:
        chunk: list[Call] = []
        units = 0
        while pending and len(chunk) < self.max_batch:
            cost = self.costs[pending[0].method]
            if chunk and units + cost > self.limiter.max_acquire:
                break
            chunk.append(pending.popleft())
            units += cost
        return chunk

    def _run_batch(self, chunk: list[Call]) -> tuple[list[tuple[Call, Any]], list[Call]]:
        answers: dict[str, tuple[Any, BaseException | None]] = {}

        def collect(request_id: str, response: Any, exception: BaseException | None) -> None:
            answers[request_id] = (response, exception)

        batch = self.new_batch()
        for i, call in enumerate(chunk):
            batch.add(call.request, callback=collect, request_id=str(i))
        units = sum(self.costs[c.method] for c in chunk)
        generation = self._take(units)
        for call in chunk:
            self.stats.calls[call.method] += 1
        self.stats.batches += 1
        self.stats.http_requests += 1
        try:
            batch.execute()
        except Exception as exc:
            # The batch as a whole failed: refused or failed on the batch endpoint (an
            # answer: nothing in it was charged), or lost in transit (connection
            # dropped, a reply cut off mid-body or unparseable: charged or not, no one
            # here can tell). Answers that were already parsed still count.
            kind = classify(exc)
            if kind is None and not isinstance(exc, (ValueError, KeyError)):
                raise
            kind = kind or "transport"
            self.stats.record_failure(kind)
            if kind == "transport":
                self.stats.units_in_doubt += units
            if kind == "quota":
                self._slow_down(generation)
            log.info("batch of %d calls failed (%s: %s); retrying", len(chunk), kind, exc)

        done: list[tuple[Call, Any]] = []
        failed: list[Call] = []
        refused = False
        for i, call in enumerate(chunk):
            response, exception = answers.get(str(i), (None, None))
            if str(i) in answers and exception is None:
                self.stats.quota_units += self.costs[call.method]
                done.append((call, response))
                continue
            if isinstance(exception, HttpError):
                if _charged(exception):
                    self.stats.quota_units += self.costs[call.method]
                if exception.resp.status == 404 and call.missing_ok:
                    done.append((call, None))
                    continue
                kind = classify(exception)
                if kind is None:
                    raise exception
                self.stats.record_failure(kind)
                refused = refused or kind == "quota"
            call.attempt += 1
            if call.attempt >= self.policy.max_attempts:
                raise RetriesExhaustedError(
                    f"{call.method} failed {call.attempt} times; last error: {exception}"
                )
            self.stats.retries += 1
            failed.append(call)
        if refused:
            self._slow_down(generation)
        return done, failed

    def _take(self, units: int) -> int:
        """Wait for `units` of quota; returns the limiter generation they came from."""
        generation = self.limiter.generation
        self.stats.throttled_seconds += self.limiter.acquire(units)
        return generation

    def _slow_down(self, generation: int) -> None:
        if self.limiter.slow_down(generation):
            self.stats.slowdowns += 1
            rate = self.limiter.rate_per_minute
            lowest = self.stats.lowest_units_per_minute
            self.stats.lowest_units_per_minute = rate if lowest is None else min(lowest, rate)
            log.info("rate limited: slowing down to %.0f units/minute", rate)

    def _retry_or_raise(
        self, exc: BaseException, attempt: int, method: str, generation: int
    ) -> int:
        kind = classify(exc)
        if kind is None:
            raise exc
        self.stats.record_failure(kind)
        if kind == "quota":
            self._slow_down(generation)
        attempt += 1
        if attempt >= self.policy.max_attempts:
            raise RetriesExhaustedError(
                f"{method} failed {attempt} times; last error: {exc}"
            ) from exc
        self.stats.retries += 1
        log.info("%s failed (%s: %s); retry %d", method, kind, exc, attempt)
        return attempt

    def _back_off(self, attempt: int) -> None:
        wait = self.policy.delay(attempt)
        self.stats.backoff_seconds += wait
        self.clock.sleep(wait)
