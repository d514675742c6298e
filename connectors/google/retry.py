"""Which Google API failures are worth another try, and how long to wait before it.

Google's guidance for its REST APIs: retry 429, 403 with reason `rateLimitExceeded` or
`userRateLimitExceeded`, and 5xx with exponential backoff; add jitter so that many
clients do not retry in lockstep. We use "full jitter" (a uniform wait between zero and
the exponential cap), which spreads retries best for the same total wait. Connection
failures (reset, remote closed, timeouts, a truncated body) are retried the same way.

API-agnostic: anything built on googleapiclient can use it.
"""

from __future__ import annotations

import http.client
import json
import random
from dataclasses import dataclass, field

import httplib2
from googleapiclient.errors import BatchError, HttpError

QUOTA_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})

# Errors raised by the transport rather than answered by the server. OSError covers
# ConnectionResetError, socket.timeout and SSL errors; http.client.HTTPException covers
# RemoteDisconnected and IncompleteRead (a response cut off mid-body).
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    http.client.HTTPException,
    httplib2.HttpLib2Error,
)


def error_reason(exc: HttpError) -> str | None:
    """The `reason` of the first entry in Google's error body, if there is one."""
    try:
        body = json.loads(
            exc.content.decode("utf-8") if isinstance(exc.content, bytes) else exc.content
        )
        errors = body.get("error", {}).get("errors") or []
        return errors[0].get("reason") if errors else None
    except (ValueError, AttributeError, TypeError):
        return None


def classify(exc: BaseException) -> str | None:
    """The kind of a failure worth retrying ("quota", "server", "transport"), else None."""
    if isinstance(exc, BatchError):
        # (a subclass of HttpError) A batch reply that did not parse: most often a body
        # cut off in transit.
        return "transport"
    if isinstance(exc, HttpError):
        status = exc.resp.status if exc.resp is not None else 0
        if status == 429 or (status == 403 and error_reason(exc) in QUOTA_REASONS):
            return "quota"
        if status in RETRYABLE_STATUSES:
            return "server"
        return None
    if isinstance(exc, TRANSPORT_ERRORS):
        return "transport"
    return None


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter: attempt n waits U(0, min(cap, base * 2**n)).

    Attributes:
        max_attempts: tries per call, the first included, before giving up.
        base_delay: seconds; the cap of the first retry's wait.
        max_delay: seconds; no single wait is longer.
        rng: source of jitter; seed it for reproducible tests.
    """

    max_attempts: int = 8
    base_delay: float = 1.0
    max_delay: float = 64.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (1 for the first retry)."""
        cap = min(self.max_delay, self.base_delay * (2 ** max(0, attempt - 1)))
        return self.rng.uniform(0, cap)


class RetriesExhaustedError(RuntimeError):
    """A call kept failing with retryable errors until the policy gave up."""
