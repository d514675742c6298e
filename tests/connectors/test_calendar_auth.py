"""Calendar credentials: the narrowest scopes, one token for Gmail and Calendar, errors.

The OAuth token endpoint is the emulator's `/token`, which grants a refresh only the
scopes the consent granted; the consent page is a stand-in browser that approves.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
import urllib.request
import webbrowser
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import google.oauth2.credentials
import pytest
from googleapiclient.discovery_cache import get_static_doc

from connectors.google import (
    CALENDAR_SCOPES,
    GMAIL_SCOPES,
    AuthError,
    authorize,
    build_calendar_service,
    google_scopes,
    list_calendars,
    load_credentials,
)
from tests.emulators.helpers import CAL_ACCOUNT, ana_calendar, calendar_service, sync_primary

pytest_plugins = ["tests.emulators.plugin"]

AUTH = "https://www.googleapis.com/auth/"
EVENTS_READONLY = AUTH + "calendar.events.readonly"
CALENDAR_LIST_READONLY = AUTH + "calendar.calendarlist.readonly"


def first_batch(service: Any) -> Any:
    return next(sync_primary(service))


def test_the_calendar_scopes_are_the_narrowest_read_only_pair() -> None:
    assert CALENDAR_SCOPES == [EVENTS_READONLY, CALENDAR_LIST_READONLY]
    methods = json.loads(get_static_doc("calendar", "v3"))["resources"]
    # Each method keepwarm calls accepts one of them (the discovery document says which).
    assert EVENTS_READONLY in methods["events"]["methods"]["list"]["scopes"]
    assert CALENDAR_LIST_READONLY in methods["calendarList"]["methods"]["list"]["scopes"]
    # Neither lets keepwarm write, nor see settings, ACLs or calendar properties.
    assert not any(
        s.endswith(("/calendar", ".events", "calendar.readonly")) for s in CALENDAR_SCOPES
    )
    assert google_scopes(gmail=True, calendar=False) == GMAIL_SCOPES
    assert google_scopes(gmail=True, calendar=True) == GMAIL_SCOPES + CALENDAR_SCOPES
    assert google_scopes(gmail=False, calendar=True) == CALENDAR_SCOPES


def test_a_gmail_only_token_is_told_to_sign_in_again(calendar_emulator) -> None:
    calendar_emulator.add_calendar(CAL_ACCOUNT, ana_calendar(volume=False))
    calendar_emulator.grant("gmail-only", CAL_ACCOUNT, GMAIL_SCOPES)
    service = calendar_service(calendar_emulator, token="gmail-only")
    with pytest.raises(AuthError, match=r"keepwarm auth google --account ana@example\.com"):
        first_batch(service)
    lacks = r"lacks calendar\.events\.readonly, calendar\.calendarlist\.readonly"
    with pytest.raises(AuthError, match=lacks):
        list_calendars(service, account=CAL_ACCOUNT)
    assert calendar_emulator.stats.statuses[403] == 2


def test_events_need_no_calendar_list_scope(calendar_emulator) -> None:
    calendar_emulator.add_calendar(CAL_ACCOUNT, ana_calendar(volume=False))
    calendar_emulator.grant("events-only", CAL_ACCOUNT, [EVENTS_READONLY])
    service = calendar_service(calendar_emulator, token="events-only")
    assert first_batch(service).events  # primary needs no calendar list
    with pytest.raises(AuthError):
        list_calendars(service, account=CAL_ACCOUNT)


@pytest.fixture
def consent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, calendar_emulator: Any) -> dict:
    """Client secrets aimed at the emulator, and a browser that clicks Allow."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the emulator speaks http
    # google-auth sends every refresh of a loaded token file to Google's token URL.
    token_url = calendar_emulator.endpoint + "token"
    monkeypatch.setattr(google.oauth2.credentials, "_GOOGLE_OAUTH2_TOKEN_ENDPOINT", token_url)
    shown: dict[str, list[str]] = {}

    def allow(url: str, *_: Any, **__: Any) -> bool:
        shown.update(urllib.parse.parse_qs(urllib.parse.urlsplit(url).query))
        answer = {"code": "code-1", "state": shown["state"][0], "scope": shown["scope"][0]}
        callback = f"{shown['redirect_uri'][0]}?{urllib.parse.urlencode(answer)}"
        threading.Thread(target=urllib.request.urlopen, args=(callback,)).start()
        return True

    browser = type("Browser", (), {"open": staticmethod(allow)})()
    monkeypatch.setattr(webbrowser, "get", lambda *_: browser)
    client = {
        "client_id": "cid.apps.googleusercontent.com",
        "client_secret": "client-secret-value",
        "auth_uri": calendar_emulator.endpoint + "auth",
        "token_uri": token_url,
        "redirect_uris": ["http://localhost"],
    }
    secrets = tmp_path / "client_secret.json"
    secrets.write_text(json.dumps({"installed": client}))
    return {"secrets": secrets, "shown": shown, "token": tmp_path / "tokens" / "ana.json"}


def _expire(token_path: Path) -> None:
    info = json.loads(token_path.read_text())
    info["expiry"] = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    token_path.write_text(json.dumps(info))


def test_one_consent_serves_gmail_and_calendar(calendar_emulator, consent) -> None:
    both = google_scopes(gmail=True, calendar=True)
    emulator = calendar_emulator
    emulator.scopes = set(both)  # what the user's consent grants
    emulator.add_calendar(CAL_ACCOUNT, ana_calendar(volume=False))

    authorize(consent["secrets"], consent["token"], both, account=CAL_ACCOUNT)
    assert consent["shown"]["scope"] == [" ".join(both)]
    assert json.loads(consent["token"].read_text())["scopes"] == both

    # The Gmail source loads the file first; its refresh asks for the Gmail scope only,
    # so the saved access token serves Gmail alone.
    _expire(consent["token"])
    gmail = load_credentials(consent["token"], GMAIL_SCOPES, account=CAL_ACCOUNT)
    assert emulator.token_scopes[gmail.token] == set(GMAIL_SCOPES)
    # The Calendar source must not reuse it: the file was minted for fewer scopes.
    calendar = load_credentials(consent["token"], CALENDAR_SCOPES, account=CAL_ACCOUNT)
    assert calendar.token != gmail.token
    assert emulator.oauth_requests[-1]["scope"] == [" ".join(CALENDAR_SCOPES)]
    assert first_batch(build_calendar_service(calendar, emulator.endpoint)).events


def test_a_token_granted_before_calendar_was_added_says_so(calendar_emulator, consent) -> None:
    emulator = calendar_emulator
    emulator.scopes = set(GMAIL_SCOPES)  # the consent given when only Gmail was configured
    emulator.add_calendar(CAL_ACCOUNT, ana_calendar(volume=False))
    authorize(consent["secrets"], consent["token"], GMAIL_SCOPES, account=CAL_ACCOUNT)
    with pytest.raises(AuthError) as info:
        load_credentials(consent["token"], CALENDAR_SCOPES, account=CAL_ACCOUNT)
    message = str(info.value)
    assert "fewer scopes" in message and "keepwarm auth google --account ana@example.com" in message
    assert "client-secret-value" not in message and "refresh-" not in message
