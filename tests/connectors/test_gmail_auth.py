"""Google credentials: the scope asked for, the token file's permissions, revoked tokens.

The OAuth token endpoint is the emulator's `/token`; the consent page is a fake browser
that approves whatever it is shown and remembers what was asked.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
import urllib.parse
import urllib.request
import webbrowser
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.transport.requests import Request
from google.oauth2.credentials import Credentials

from connectors.google import (
    GMAIL_SCOPES,
    AuthError,
    QuotaLimiter,
    authorize,
    build_gmail_service,
    delegated_credentials,
    load_credentials,
    save_credentials,
    sync_gmail,
)
from tests.emulators.helpers import TAKEOUT_MBOX, mbox_mailbox, stored_token

pytest_plugins = ["tests.emulators.plugin"]

ACCOUNT = "samuelchan@gmail.com"
METADATA = "https://www.googleapis.com/auth/gmail.metadata"


class _ToEmulator(Request):
    """google-auth always sends refreshes to Google's token URL; send them to the emulator."""

    def __init__(self, emulator: Any) -> None:
        super().__init__()
        self.token_url = emulator.endpoint + "token"

    def __call__(self, url: str, *args: Any, **kwargs: Any) -> Any:
        if url == "https://oauth2.googleapis.com/token":
            url = self.token_url
        return super().__call__(url, *args, **kwargs)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _user_token(emulator: Any, token: str | None = "old-access") -> Credentials:
    return stored_token(emulator, token, GMAIL_SCOPES)


def test_the_only_scope_is_gmail_metadata() -> None:
    assert GMAIL_SCOPES == [METADATA]


def test_token_file_is_owner_only_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = tmp_path / "tokens" / "ana.json"
        save_credentials(Credentials(token="a", refresh_token="r"), path)
    finally:
        os.umask(old)
    assert _mode(path) == 0o600
    assert json.loads(path.read_text())["refresh_token"] == "r"
    assert [p.name for p in path.parent.iterdir()] == ["ana.json"]  # no temp file left


def test_loading_repairs_a_token_file_readable_by_others(
    tmp_path: Path, gmail_emulator: Any, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "token.json"
    path.write_text(_user_token(gmail_emulator).to_json())
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        creds = load_credentials(path, account=ACCOUNT, request=_ToEmulator(gmail_emulator))
    assert _mode(path) == 0o600
    assert "made it 0600" in caplog.text
    assert creds.valid


def test_an_expired_token_is_refreshed_and_saved_again(tmp_path: Path, gmail_emulator: Any) -> None:
    gmail_emulator.add_mailbox(mbox_mailbox(TAKEOUT_MBOX))
    path = tmp_path / "token.json"
    save_credentials(_user_token(gmail_emulator, token=None), path)
    creds = load_credentials(path, account=ACCOUNT, request=_ToEmulator(gmail_emulator))
    assert creds.token.startswith("access-")
    assert json.loads(path.read_text())["token"] == creds.token
    assert _mode(path) == 0o600
    assert gmail_emulator.oauth_requests[-1]["grant_type"] == ["refresh_token"]


def test_a_revoked_refresh_token_says_what_to_do(
    tmp_path: Path, gmail_emulator: Any, caplog: pytest.LogCaptureFixture
) -> None:
    gmail_emulator.refresh_error = "invalid_grant"
    path = tmp_path / "token.json"
    save_credentials(_user_token(gmail_emulator, token=None), path)
    with caplog.at_level(logging.DEBUG), pytest.raises(AuthError) as info:
        load_credentials(path, account="ana@example.com", request=_ToEmulator(gmail_emulator))
    message = str(info.value)
    assert "invalid_grant" in message
    assert "Testing" in message and "7 days" in message
    assert "keepwarm auth google --account ana@example.com" in message
    for secret in ("refresh-secret-value", "client-secret-value"):
        assert secret not in message and secret not in caplog.text


def test_a_token_revoked_during_a_sync_raises_auth_error(gmail_emulator: Any) -> None:
    gmail_emulator.add_mailbox(mbox_mailbox(TAKEOUT_MBOX))
    gmail_emulator.refresh_error = "invalid_grant"
    service = build_gmail_service(_user_token(gmail_emulator, token=None), gmail_emulator.endpoint)
    batches = sync_gmail(service, ACCOUNT, None, limiter=QuotaLimiter.for_ceiling(10**6))
    with pytest.raises(AuthError, match=r"keepwarm auth google --account samuelchan@gmail\.com"):
        next(batches)


class _ConsentBrowser:
    """Approves the consent page by calling the redirect URI, like a user clicking Allow."""

    def __init__(self) -> None:
        self.asked: dict[str, list[str]] = {}

    def open(self, url: str, new: int = 0, autoraise: bool = True) -> bool:
        self.asked = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        redirect = self.asked["redirect_uri"][0]
        query = urllib.parse.urlencode(
            {"code": "code-123", "state": self.asked["state"][0], "scope": METADATA}
        )
        threading.Thread(target=urllib.request.urlopen, args=(f"{redirect}?{query}",)).start()
        return True


def test_authorize_runs_the_desktop_flow_for_metadata_only(
    tmp_path: Path, gmail_emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the emulator speaks http
    browser = _ConsentBrowser()
    monkeypatch.setattr(webbrowser, "get", lambda *_: browser)
    secrets = tmp_path / "client_secret.json"
    secrets.write_text(
        json.dumps(
            {
                "installed": {
                    "client_id": "cid.apps.googleusercontent.com",
                    "client_secret": "client-secret-value",
                    "auth_uri": gmail_emulator.endpoint + "auth",
                    "token_uri": gmail_emulator.endpoint + "token",
                    "redirect_uris": ["http://localhost"],
                }
            }
        )
    )
    token_path = tmp_path / "tokens" / "samuel.json"

    creds = authorize(secrets, token_path, GMAIL_SCOPES, account=ACCOUNT)

    assert browser.asked["scope"] == [METADATA]
    assert browser.asked["access_type"] == ["offline"]
    assert browser.asked["login_hint"] == [ACCOUNT]
    assert creds.refresh_token and _mode(token_path) == 0o600
    saved = json.loads(token_path.read_text())
    assert saved["scopes"] == [METADATA]


def test_domain_wide_delegation_acts_as_the_mailbox(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    key_file = tmp_path / "sa.json"
    key_file.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "keepwarm-test",
                "private_key_id": "k1",
                "private_key": pem,
                "client_email": "sync@keepwarm-test.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": "https://oauth2.googleapis.com/token",
            }
        )
    )
    creds = delegated_credentials(key_file, "ana@example.com")
    assert creds._subject == "ana@example.com"
    assert list(creds.scopes) == [METADATA]
