"""Credentials for Google APIs: a desktop OAuth flow for people, delegation for teams.

Tokens are secrets: the token file is created owner-only (0600) and replaced atomically,
its permissions are checked (and repaired) every time it is read, and no token value is
ever logged or put in an error message.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request
from google.oauth2 import service_account
from google.oauth2.credentials import Credentials
from googleapiclient.errors import HttpError

log = logging.getLogger(__name__)

# Headers and labels only: no bodies, and (by Google's rule for this scope) no `q` search.
GMAIL_SCOPES = ["https://www.googleapis.com/auth/gmail.metadata"]

# The two narrowest scopes that serve the Calendar connector (each method's accepted scopes
# are in the discovery document): events.list accepts `calendar.events.readonly`, which
# reads events on every calendar the user can see but nothing else (not settings, ACLs or
# calendar properties); calendarList.list accepts `calendar.calendarlist.readonly`, the
# list of subscribed calendars and nothing more. Both together are narrower than
# `calendar.readonly`. `calendar.events.owned.readonly` would be narrower still but
# refuses calendars shared by someone else (a team calendar), which users configure.
CALENDAR_SCOPES = [
    "https://www.googleapis.com/auth/calendar.events.readonly",
    "https://www.googleapis.com/auth/calendar.calendarlist.readonly",
]


# The address book, read-only: connections.list and contactGroups.list accept it. The
# "other contacts" Gmail saves by itself need a scope of their own, asked for only when
# the user turns them on (sources.gcontacts.other_contacts).
CONTACTS_SCOPES = ["https://www.googleapis.com/auth/contacts.readonly"]
OTHER_CONTACTS_SCOPES = ["https://www.googleapis.com/auth/contacts.other.readonly"]


def google_scopes(
    *, gmail: bool = True, calendar: bool = False, contacts: bool = False,
    other_contacts: bool = False,
) -> list[str]:
    """The scopes one token needs for the Google sources configured for an account.

    Ask for all of them in one consent (`authorize(..., google_scopes(gmail=True,
    calendar=True, contacts=True))`) and load the token with the same list for every
    source, so the cached access token serves them all.
    """
    return [*(GMAIL_SCOPES if gmail else []), *(CALENDAR_SCOPES if calendar else []),
            *(CONTACTS_SCOPES if contacts else []),
            *(OTHER_CONTACTS_SCOPES if contacts and other_contacts else [])]


class AuthError(RuntimeError):
    """Credentials that cannot be used; the message says what to do about it."""


def reauth_command(account: str | None) -> str:
    return f"keepwarm auth google --account {account or 'ADDR'} --client-secrets CLIENT.json"


def explain_refresh_error(account: str | None, exc: BaseException) -> str:
    """A message a user can act on for a failed token refresh."""
    who = account or "this account"
    text = str(exc)
    if "invalid_scope" in text:
        return (
            f"The Google token for {who} was authorised for fewer scopes than keepwarm now "
            "asks for (a source such as Calendar was added after signing in). Run "
            f"`{reauth_command(account)}` to sign in again and grant them."
        )
    if "invalid_grant" in text:
        return (
            f"The Google refresh token for {who} was revoked or has expired (invalid_grant). "
            "OAuth apps whose consent screen is still in 'Testing' publishing status get "
            "refresh tokens that expire after 7 days; publish the app (or re-authorize "
            f"weekly). Run `{reauth_command(account)}` to sign in again."
        )
    return (
        f"Could not refresh the Google token for {who} ({text}). Run `{reauth_command(account)}`."
    )


def explain_refusal(
    exc: HttpError, account: str | None, *, reading: str, scopes: Sequence[str], api: str,
    grant: str,
) -> AuthError | None:
    """What a user can do about a 401 or 403 that retrying cannot mend; None for others.

    Google answers 403 for several unrelated causes, told apart by the reason in its
    error body: a token without the scope, an API not enabled in the OAuth client's Cloud
    project (the usual first-run mistake), an organisation's policy. Only the first is
    about signing in again, so each gets its own fix; a reason keepwarm does not know is
    passed on in Google's own words rather than guessed at.

    Args:
        reading: what was being read, for the sentence ("contacts", "calendar 'work'").
        scopes: the OAuth scopes that reading needs (GMAIL_SCOPES, ...).
        api: the API's name in Google Cloud console's library ("Google People API").
        grant: what to tick on the consent screen ("Contacts access").
    """
    from connectors.google.retry import QUOTA_REASONS, error_reason  # retry needs no auth

    status = exc.resp.status if exc.resp is not None else 0
    reason = error_reason(exc)
    who = account or "this account"
    again = f"Run `{reauth_command(account)}` to sign in again"
    if status == 401:
        return AuthError(f"Google did not accept the token for {who} (HTTP 401) while "
                         f"reading {reading}. {again}.")
    if status != 403 or reason in QUOTA_REASONS:
        return None
    if reason in ("insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"):
        names = ", ".join(scope.rsplit("/", 1)[-1] for scope in scopes)
        return AuthError(f"The Google token for {who} may not read {reading} (HTTP 403: it "
                         f"lacks {names}). {again} and grant {grant}.")
    if reason in ("accessNotConfigured", "SERVICE_DISABLED"):
        return AuthError(f"The {api} is not enabled in the Google Cloud project of "
                         "keepwarm's OAuth client (HTTP 403 accessNotConfigured). Enable it "
                         f"in Google Cloud console (APIs & Services > Library > {api}), wait "
                         "a minute, then run again.")
    said = getattr(exc, "reason", None) or "no reason given"
    return AuthError(f"Google refused to let {who} read {reading} (HTTP 403"
                     f"{' ' + reason if reason else ''}: {said}). If the account belongs to "
                     "an organisation, its administrator may have to allow keepwarm.")


CLIENT_HELP = ("create an OAuth client ID of type 'Desktop app' in Google Cloud console "
               "(APIs & Services > Credentials) and pass its downloaded JSON")


def read_client_secrets(path: str | os.PathLike[str]) -> dict:
    """The OAuth client of a Desktop app, from the JSON file Google Cloud console gives.

    Raises:
        AuthError: the file is missing, unreadable, not JSON, or for another kind of
            client; the message says which and what to download instead.
    """
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AuthError(f"no OAuth client file at {path}: {CLIENT_HELP}") from None
    except (OSError, UnicodeDecodeError) as exc:
        problem = getattr(exc, "strerror", None) or "not a text file"
        raise AuthError(f"cannot read the OAuth client file {path} ({problem}): "
                        f"{CLIENT_HELP}") from None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AuthError(f"{path} is not JSON ({exc.msg}, line {exc.lineno}): {CLIENT_HELP}") \
            from None
    if not isinstance(config, dict):
        config = {}
    if isinstance(config.get("installed"), dict):
        missing = {"client_id", "auth_uri", "token_uri"} - set(config["installed"])
        if missing:
            raise AuthError(f"{path} has no {', '.join(sorted(missing))} in its \"installed\" "
                            f"section: download the client's JSON again, or {CLIENT_HELP}")
        return config
    if "web" in config:
        raise AuthError(f"{path} is the OAuth client of a 'Web application', which cannot "
                        f"sign in from this machine: {CLIENT_HELP}")
    if config.get("type") == "service_account":
        raise AuthError(f"{path} is a service account key, not an OAuth client: name it as "
                        "service_account_key in keepwarm.yaml (Workspace), or "
                        f"{CLIENT_HELP}")
    raise AuthError(f"{path} is not an OAuth client file (no \"installed\" section): "
                    f"{CLIENT_HELP}")


RELAX_TOKEN_SCOPE = "OAUTHLIB_RELAX_TOKEN_SCOPE"


@contextmanager
def _scope_changes_allowed() -> Iterator[None]:
    """Let oauthlib accept a token granted for other scopes than asked, so that keepwarm
    checks the granted scopes itself and says which are missing; oauthlib would raise a
    bare "Scope has changed" Warning instead. Read by oauthlib from the environment."""
    previous = os.environ.get(RELAX_TOKEN_SCOPE)
    os.environ[RELAX_TOKEN_SCOPE] = "1"
    try:
        yield
    finally:
        if previous is None:
            del os.environ[RELAX_TOKEN_SCOPE]
        else:
            os.environ[RELAX_TOKEN_SCOPE] = previous


def _short(scope: str) -> str:
    return scope.rsplit("/", 1)[-1]


def authorize(
    client_secrets_path: str | os.PathLike[str],
    token_path: str | os.PathLike[str],
    scopes: Sequence[str] = tuple(GMAIL_SCOPES),
    *,
    account: str | None = None,
    port: int = 0,
    open_browser: bool = True,
) -> Credentials:
    """Run the desktop OAuth flow in the user's browser and save the token owner-only.

    Args:
        client_secrets_path: the "Desktop app" OAuth client JSON from Google Cloud console.
        token_path: where to keep the authorized-user token file.
        scopes: what to ask for: `GMAIL_SCOPES`, `CALENDAR_SCOPES`, `CONTACTS_SCOPES`, or
            several in one token (`google_scopes(gmail=True, calendar=True, contacts=True)`).
        account: the address expected to sign in, passed to Google as a login hint.
        port: local port for the redirect; 0 picks a free one.
        open_browser: open the consent page automatically.

    Raises:
        AuthError: the client file cannot be used, the sign-in was refused, or Google
            granted fewer scopes than were asked for.
    """
    from google_auth_oauthlib.flow import InstalledAppFlow
    from oauthlib.oauth2.rfc6749.errors import OAuth2Error

    flow = InstalledAppFlow.from_client_config(read_client_secrets(client_secrets_path),
                                               scopes=list(scopes))
    extra = {"login_hint": account} if account else {}
    try:
        with _scope_changes_allowed():
            creds = flow.run_local_server(
                port=port, open_browser=open_browser, access_type="offline",
                prompt="consent", **extra
            )
    except OAuth2Error as exc:
        raise AuthError(f"Google did not complete the sign-in ({exc.error}"
                        f"{': ' + exc.description if exc.description else ''}); run "
                        f"`{reauth_command(account)}` again") from None
    granted = set(creds.granted_scopes or creds.scopes or [])
    missing = [scope for scope in scopes if scope not in granted]
    if granted and missing:
        raise AuthError(
            f"Google granted fewer scopes than keepwarm needs: {', '.join(map(_short, missing))} "
            f"not granted. Tick every permission on the consent screen when you run "
            f"`{reauth_command(account)}` again."
        )
    save_credentials(creds, token_path)
    return creds


def save_credentials(creds: Credentials, token_path: str | os.PathLike[str]) -> None:
    """Write the token file owner-only, atomically: readers see the old file or the new."""
    path = Path(token_path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = creds.to_json().encode("utf-8")
    fd, tmp = _owner_only_tempfile(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _owner_only_tempfile(path: Path) -> tuple[int, str]:
    # os.open with mode 0600 creates the file without a window in which it is readable by
    # others (umask can only remove bits); O_EXCL refuses to reuse a planted file.
    for _ in range(100):
        name = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        return fd, str(name)
    raise FileExistsError(f"could not create a temporary file next to {path}")


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def ensure_owner_only(token_path: str | os.PathLike[str]) -> bool:
    """Make the token file 0600 if group or others can read it; True if it was fixed."""
    path = Path(token_path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        os.chmod(path, 0o600)
        log.warning("token file %s was readable by others (%o); made it 0600", path, mode)
        return True
    return False


def require_token_file(token_path: str | os.PathLike[str], account: str | None) -> Path:
    """The token file's path, or `AuthError` saying how to create it."""
    path = Path(token_path)
    if not path.exists():
        raise AuthError(
            f"No Google token for {account or 'this account'} at {path}. "
            f"Run `{reauth_command(account)}`."
        )
    return path


def load_credentials(
    token_path: str | os.PathLike[str],
    scopes: Sequence[str] = tuple(GMAIL_SCOPES),
    *,
    account: str | None = None,
    request: Request | None = None,
) -> Credentials:
    """The saved user token, refreshed if it expired (and saved again).

    The access token in the file was minted for the scopes the file records; when
    `scopes` asks for one it does not cover (Gmail and Calendar sharing one token file,
    loaded with different lists), it is refreshed for `scopes` instead of being trusted.

    Raises:
        AuthError: no token file, or the refresh token was revoked/expired.
    """
    path = require_token_file(token_path, account)
    ensure_owner_only(path)
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        creds = Credentials.from_authorized_user_info(info, list(scopes))
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        # No detail: the file holds secrets, and its text must not reach a log.
        raise AuthError(
            f"The Google token file {path} for {account or 'this account'} cannot be read "
            f"as a token. Delete it and run `{reauth_command(account)}`."
        ) from None
    minted_for = set(info.get("scopes") or [])
    if creds.valid and (not minted_for or set(scopes) <= minted_for):
        return creds
    if not creds.refresh_token:
        raise AuthError(
            f"The Google token for {account or 'this account'} cannot be refreshed. "
            f"Run `{reauth_command(account)}`."
        )
    try:
        creds.refresh(request or Request())
    except RefreshError as exc:
        raise AuthError(explain_refresh_error(account, exc)) from exc
    save_credentials(creds, path)
    return creds


def delegated_credentials(
    key_path: str | os.PathLike[str], mailbox: str, scopes: Sequence[str] = tuple(GMAIL_SCOPES)
) -> service_account.Credentials:
    """A service account acting as `mailbox` through Workspace domain-wide delegation.

    For Calendar pass `CALENDAR_SCOPES` (or `google_scopes(...)` for both sources). The
    Workspace admin must allow the service account's client id for these scopes
    (Admin console > Security > API controls > Domain-wide delegation).
    """
    creds = service_account.Credentials.from_service_account_file(
        str(key_path), scopes=list(scopes)
    )
    return creds.with_subject(mailbox)
