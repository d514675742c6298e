"""Calling a Google API through googleapiclient with a quota limiter, retries and batches.

googleapiclient sends a batch as one HTTP request but leaves each sub-request's failure
to the caller: a 429 or a 503 on call 17 of 50 simply arrives in its callback. The caller
here puts those calls back in the queue for a later batch (after a jittered backoff), so
a batch either yields a result for every call or keeps trying the ones that failed.

Quota is charged per sub-request (Google counts a batch of n calls as n calls), so every
batch is sized to fit the limiter's burst and takes its units before it is sent.
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


@dataclass
class CallStats:
    """What talking to the API cost: calls per method, units, failures and waits."""

    calls: Counter[str] = field(default_factory=Counter)
    quota_units: int = 0
    http_requests: int = 0
    batches: int = 0
    retries: int = 0
    quota_errors: int = 0
    server_errors: int = 0
    transport_errors: int = 0
    throttled_seconds: float = 0.0
    backoff_seconds: float = 0.0

    def record_failure(self, kind: str) -> None:
        if kind == "quota":
            self.quota_errors += 1
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
        while True:
            self._take(method, 1, self.costs[method])
            self.stats.http_requests += 1
            try:
                return request.execute(num_retries=0)
            except HttpError as exc:
                if exc.resp.status == 404 and missing_ok:
                    return None
                attempt = self._retry_or_raise(exc, attempt, method)
            except Exception as exc:
                attempt = self._retry_or_raise(exc, attempt, method)
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
        self._take(None, 0, units)
        for call in chunk:
            self.stats.calls[call.method] += 1
        self.stats.batches += 1
        self.stats.http_requests += 1
        try:
            batch.execute()
        except Exception as exc:
            # The batch as a whole failed (connection dropped, 5xx on the batch endpoint,
            # a reply cut off mid-body). Answers that were already parsed still count.
            kind = classify(exc)
            if kind is None and not isinstance(exc, (ValueError, KeyError)):
                raise
            kind = kind or "transport"
            self.stats.record_failure(kind)
            if kind == "quota":
                self.limiter.drain()
            log.info("batch of %d calls failed (%s: %s); retrying", len(chunk), kind, exc)

        done: list[tuple[Call, Any]] = []
        failed: list[Call] = []
        for i, call in enumerate(chunk):
            response, exception = answers.get(str(i), (None, None))
            if str(i) in answers and exception is None:
                done.append((call, response))
                continue
            if isinstance(exception, HttpError):
                if exception.resp.status == 404 and call.missing_ok:
                    done.append((call, None))
                    continue
                kind = classify(exception)
                if kind is None:
                    raise exception
                self.stats.record_failure(kind)
                if kind == "quota":
                    self.limiter.drain()
            call.attempt += 1
            if call.attempt >= self.policy.max_attempts:
                raise RetriesExhaustedError(
                    f"{call.method} failed {call.attempt} times; last error: {exception}"
                )
            self.stats.retries += 1
            failed.append(call)
        return done, failed

    def _take(self, method: str | None, calls: int, units: int) -> None:
        self.stats.throttled_seconds += self.limiter.acquire(units)
        self.stats.quota_units += units
        if method:
            self.stats.calls[method] += calls

    def _retry_or_raise(self, exc: BaseException, attempt: int, method: str) -> int:
        kind = classify(exc)
        if kind is None:
            raise exc
        self.stats.record_failure(kind)
        if kind == "quota":
            self.limiter.drain()
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
