"""Google API connectors (Gmail; Calendar to follow): auth, quota, retries, sync.

Public entry points:

    build_gmail_service(credentials, api_endpoint=None) -> Resource
    sync_gmail(service, account, cursor, *, limiter, ...) -> Iterator[Batch]
    QuotaLimiter.for_ceiling(units_per_minute) -> QuotaLimiter
    authorize(...), load_credentials(...), delegated_credentials(...)
"""

from connectors.google.auth import (
    GMAIL_SCOPES,
    AuthError,
    authorize,
    delegated_credentials,
    load_credentials,
    save_credentials,
)
from connectors.google.gmail import STREAM, GmailSyncError, SyncReport, sync_gmail
from connectors.google.gmail_api import (
    GMAIL_COSTS,
    GMAIL_COSTS_2026,
    GMAIL_USER_UNITS_PER_MINUTE,
    GMAIL_USER_UNITS_PER_MINUTE_2026,
    build_gmail_service,
)
from connectors.google.quota import ManualClock, MonotonicClock, QuotaLimiter, ScaledClock
from connectors.google.retry import RetriesExhaustedError, RetryPolicy

__all__ = [
    "GMAIL_COSTS",
    "GMAIL_COSTS_2026",
    "GMAIL_SCOPES",
    "GMAIL_USER_UNITS_PER_MINUTE",
    "GMAIL_USER_UNITS_PER_MINUTE_2026",
    "STREAM",
    "AuthError",
    "GmailSyncError",
    "ManualClock",
    "MonotonicClock",
    "QuotaLimiter",
    "RetriesExhaustedError",
    "RetryPolicy",
    "ScaledClock",
    "SyncReport",
    "authorize",
    "build_gmail_service",
    "delegated_credentials",
    "load_credentials",
    "save_credentials",
    "sync_gmail",
]
