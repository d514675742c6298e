"""A Google API that refuses: each cause of a 401 or 403 gets its own fix, for all three APIs.

Google answers 403 for unrelated reasons, told apart by the reason in its error body. Only
a token without the scope is fixed by signing in again; an API not enabled in the OAuth
client's Cloud project (the usual first-run mistake) is fixed in the console, and an
organisation's policy by its administrator. Each connector is run against its emulator
over real HTTP with the real client; the emulator answers every call as Google does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from connectors.google import QuotaLimiter
from connectors.google.auth import AuthError
from connectors.google.calendar_api import build_calendar_service
from connectors.google.gmail import sync_gmail
from connectors.google.gmail_api import build_gmail_service
from connectors.google.people import sync_contacts
from connectors.google.people_api import build_people_service
from tests.emulators.calendar import StoredCalendar
from tests.emulators.gmail import GmailMailbox
from tests.emulators.helpers import CAL_ACCOUNT, stored_token, sync_primary
from tests.emulators.http import api_not_enabled, google_error
from tests.emulators.people import AddressBook

pytest_plugins = ["tests.emulators.plugin"]

ME = CAL_ACCOUNT  # sync_primary reads this account's primary calendar
REAUTH = f"Run `keepwarm auth google --account {ME} --client-secrets CLIENT.json`"
UNLIMITED = QuotaLimiter.for_ceiling(10**9)


def read_mail(factory: Callable[..., Any]) -> tuple[Any, Callable[[], object]]:
    emulator = factory()
    emulator.add_mailbox(GmailMailbox(ME), token="t")
    service = build_gmail_service(stored_token(emulator), emulator.endpoint)
    return emulator, lambda: list(sync_gmail(service, ME, None, limiter=UNLIMITED))


def read_calendar(factory: Callable[..., Any]) -> tuple[Any, Callable[[], object]]:
    emulator = factory()
    emulator.add_calendar(ME, StoredCalendar(ME, primary=True), token="t")
    service = build_calendar_service(stored_token(emulator), emulator.endpoint)
    return emulator, lambda: list(sync_primary(service))


def read_contacts(factory: Callable[..., Any]) -> tuple[Any, Callable[[], object]]:
    emulator = factory()
    emulator.add_book(AddressBook(ME), token="t")
    service = build_people_service(stored_token(emulator), emulator.endpoint)
    return emulator, lambda: list(sync_contacts(service, ME, None, limiter=UNLIMITED))


# Per API: how to read it, what it reads, its name in the console's library, its service.
APIS = {
    "gmail": (read_mail, "mail", "Gmail API", "gmail.googleapis.com"),
    "calendar": (read_calendar, "calendar 'primary'", "Google Calendar API",
                 "calendar-json.googleapis.com"),
    "contacts": (read_contacts, "contacts", "Google People API", "people.googleapis.com"),
}


@pytest.fixture(params=sorted(APIS))
def api(request, gmail_emulator_factory, calendar_emulator_factory, people_emulator_factory):
    read, reading, title, service = APIS[request.param]
    factory = {"gmail": gmail_emulator_factory, "calendar": calendar_emulator_factory,
               "contacts": people_emulator_factory}[request.param]
    emulator, run = read(factory)
    return emulator, run, reading, title, service


def refused(run: Callable[[], object]) -> str:
    with pytest.raises(AuthError) as caught:
        run()
    return str(caught.value)


def test_an_api_not_enabled_in_the_project_points_to_the_console(api):
    emulator, run, _, title, service = api
    emulator.refusal = api_not_enabled(title, service)
    assert refused(run) == (
        f"The {title} is not enabled in the Google Cloud project of keepwarm's OAuth client "
        f"(HTTP 403 accessNotConfigured). Enable it in Google Cloud console (APIs & Services > "
        f"Library > {title}), wait a minute, then run again.")
    assert sum(emulator.stats.calls.values()) == 0  # refused at the door, never retried


def test_an_organisations_policy_is_passed_on_in_googles_words(api):
    emulator, run, reading, _, _ = api
    emulator.refusal = (403, google_error(
        403, "The domain administrators have disabled this app.", "domainPolicy",
        "PERMISSION_DENIED"))
    assert refused(run) == (
        f"Google refused to let {ME} read {reading} (HTTP 403 domainPolicy: The domain "
        "administrators have disabled this app.). If the account belongs to an organisation, "
        "its administrator may have to allow keepwarm.")


def test_a_403_without_a_reason_is_not_taken_for_a_missing_scope(api):
    emulator, run, reading, _, _ = api
    emulator.refusal = (403, {"error": {"code": 403, "message": "Forbidden"}})
    message = refused(run)
    assert message.startswith(f"Google refused to let {ME} read {reading} (HTTP 403: Forbidden)")
    assert "scope" not in message and "sign in again" not in message


def test_a_token_without_the_scope_names_it_and_the_access_to_grant(api):
    emulator, run, reading, _, _ = api
    emulator.grant("t", ME, ["https://www.googleapis.com/auth/drive.readonly"])
    scopes, grant = {
        "mail": ("gmail.metadata", "Gmail access"),
        "calendar 'primary'": ("calendar.events.readonly, calendar.calendarlist.readonly",
                               "Calendar access"),
        "contacts": ("contacts.readonly", "Contacts access"),
    }[reading]
    assert refused(run) == (
        f"The Google token for {ME} may not read {reading} (HTTP 403: it lacks {scopes}). "
        f"{REAUTH} to sign in again and grant {grant}.")


def test_a_token_google_will_not_accept_even_refreshed_asks_to_sign_in_again(api):
    """A 401 that a fresh access token does not mend (the client refreshes on a 401 by
    itself; a token of another account or project is refused still): signing in again is
    the fix, whichever API refused, and keepwarm does not retry it."""
    emulator, run, reading, _, _ = api
    emulator.refusal = (401, google_error(
        401, "Request had invalid authentication credentials. Expected OAuth 2 access token, "
        "login cookie or other valid authentication credential.", "authError",
        "UNAUTHENTICATED"))
    assert refused(run) == (
        f"Google did not accept the token for {ME} (HTTP 401) while reading {reading}. "
        f"{REAUTH} to sign in again.")
    refreshes = [form for form in emulator.oauth_requests
                 if form.get("grant_type") == ["refresh_token"]]
    # Every request after the first followed one of the client's own refreshes: keepwarm's
    # retries (for 429s and 5xx) left the 401 alone.
    assert refreshes
    assert emulator.stats.statuses == {401: len(refreshes) + 1}
