"""Google API connectors (Gmail, Calendar, Contacts): auth, quota, retries, sync.

Public entry points:

    build_gmail_service(credentials, api_endpoint=None) -> Resource
    sync_gmail(service, account, cursor, *, limiter, ...) -> Iterator[Batch]
    build_calendar_service(credentials, api_endpoint=None) -> Resource
    list_calendars(service, *, limiter=None, ...) -> list[CalendarInfo]
    sync_calendar(service, account, calendar_id, cursor, *, limiter, window_start,
                  window_end, ...) -> Iterator[Batch]
    build_people_service(credentials, api_endpoint=None) -> Resource
    sync_contacts(service, account, cursor, *, limiter, ...) -> Iterator[ContactBatch]
    QuotaLimiter.for_ceiling(units_per_minute) -> QuotaLimiter
    authorize(...), load_credentials(...), delegated_credentials(...)
"""

from connectors.google.auth import (
    CALENDAR_SCOPES,
    CONTACTS_SCOPES,
    GMAIL_SCOPES,
    OTHER_CONTACTS_SCOPES,
    AuthError,
    authorize,
    delegated_credentials,
    google_scopes,
    load_credentials,
    require_token_file,
    save_credentials,
)
from connectors.google.calendar import (
    CalendarInfo,
    CalendarSyncError,
    CalendarSyncReport,
    list_calendars,
    sync_calendar,
)
from connectors.google.calendar_api import (
    CALENDAR_COSTS,
    CALENDAR_USER_REQUESTS_PER_MINUTE,
    build_calendar_service,
)
from connectors.google.gmail import STREAM, GmailSyncError, SyncReport, sync_gmail
from connectors.google.gmail_api import (
    GMAIL_COSTS,
    GMAIL_COSTS_2026,
    GMAIL_USER_UNITS_PER_MINUTE,
    GMAIL_USER_UNITS_PER_MINUTE_2026,
    build_gmail_service,
)
from connectors.google.people import (
    OTHER_STREAM as OTHER_CONTACTS_STREAM,
)
from connectors.google.people import (
    STREAM as CONTACTS_STREAM,
)
from connectors.google.people import (
    ContactBatch,
    PeopleSyncError,
    PeopleSyncReport,
    sync_contacts,
)
from connectors.google.people_api import PEOPLE_USER_REQUESTS_PER_MINUTE, build_people_service
from connectors.google.quota import ManualClock, MonotonicClock, QuotaLimiter, ScaledClock
from connectors.google.retry import RetriesExhaustedError, RetryPolicy

__all__ = [
    "CALENDAR_COSTS",
    "CALENDAR_SCOPES",
    "CALENDAR_USER_REQUESTS_PER_MINUTE",
    "CONTACTS_SCOPES",
    "CONTACTS_STREAM",
    "GMAIL_COSTS",
    "GMAIL_COSTS_2026",
    "GMAIL_SCOPES",
    "GMAIL_USER_UNITS_PER_MINUTE",
    "GMAIL_USER_UNITS_PER_MINUTE_2026",
    "OTHER_CONTACTS_SCOPES",
    "OTHER_CONTACTS_STREAM",
    "PEOPLE_USER_REQUESTS_PER_MINUTE",
    "STREAM",
    "AuthError",
    "CalendarInfo",
    "CalendarSyncError",
    "CalendarSyncReport",
    "ContactBatch",
    "GmailSyncError",
    "ManualClock",
    "MonotonicClock",
    "PeopleSyncError",
    "PeopleSyncReport",
    "QuotaLimiter",
    "RetriesExhaustedError",
    "RetryPolicy",
    "ScaledClock",
    "SyncReport",
    "authorize",
    "build_calendar_service",
    "build_gmail_service",
    "build_people_service",
    "delegated_credentials",
    "google_scopes",
    "list_calendars",
    "load_credentials",
    "require_token_file",
    "save_credentials",
    "sync_calendar",
    "sync_contacts",
    "sync_gmail",
]
