"""The HTTP transport of the Google clients: one attempt per request, never a silent one.

httplib2 (under googleapiclient) re-sends a request on its own in two cases: when the
connection yields no status line on the first try (`BadStatusLine`, which includes
`RemoteDisconnected`: the server closed the connection, or a kept-alive connection had
gone stale) it reconnects and sends again "regardless of the number of RETRIES set"
(httplib2 0.32, `Http._conn_request`), and when connecting fails with ENETUNREACH or
EADDRNOTAVAIL it tries again while `httplib2.RETRIES` (2) allows. Either way the caller
sees one request where the server saw two, so a connection lost on the way is neither
counted nor backed off. Setting `httplib2.RETRIES = 1` would stop only the second case.

Here the connection turns both into `ConnectionLostError`, which httplib2 passes on
untouched; keepwarm's retry (connectors/google/batching.py) then counts it as a
transport error and backs off before sending again. Only public httplib2 hooks are used:
the `connection_type` argument of `Http.request` and subclasses of its connection
classes.
"""

from __future__ import annotations

import errno
import http.client
import socket
from typing import Any

import httplib2
from google_auth_httplib2 import AuthorizedHttp
from googleapiclient.http import DEFAULT_HTTP_TIMEOUT_SEC

# Failures to connect that httplib2 retries by itself (`Http._conn_request`).
_RETRIED_BY_HTTPLIB2 = (errno.ENETUNREACH, errno.EADDRNOTAVAIL)


class ConnectionLostError(ConnectionError):
    """The connection failed before an answer arrived; the request may have reached the
    server (and been charged) or not."""


class _OneAttempt:
    """Mixed into httplib2's connection classes: failures httplib2 would silently retry
    surface as ConnectionLostError instead."""

    def connect(self) -> None:
        try:
            super().connect()  # type: ignore[misc]
        except OSError as exc:
            if exc.errno in _RETRIED_BY_HTTPLIB2:
                raise ConnectionLostError(f"could not connect: {exc}") from exc
            raise

    def getresponse(self) -> http.client.HTTPResponse:
        try:
            return super().getresponse()  # type: ignore[misc]
        except (http.client.BadStatusLine, http.client.ResponseNotReady) as exc:
            raise ConnectionLostError(f"no answer on the connection: {exc!r}") from exc


class _OneAttemptHTTPConnection(_OneAttempt, httplib2.HTTPConnectionWithTimeout):
    pass


class _OneAttemptHTTPSConnection(_OneAttempt, httplib2.HTTPSConnectionWithTimeout):
    pass


_CONNECTIONS = {"http": _OneAttemptHTTPConnection, "https": _OneAttemptHTTPSConnection}


class OneAttemptHttp(httplib2.Http):
    """An httplib2.Http that sends each request once; see the module docstring.

    A connection on which a request failed is closed and never used again. httplib2
    leaves one open after a body cut off mid-way (`IncompleteRead`), and the next
    request would be written into a socket the server had closed: a second failure that
    the first one caused.
    """

    def request(self, uri: str, *args: Any, connection_type: Any = None, **kwargs: Any) -> Any:
        if connection_type is None:
            connection_type = _CONNECTIONS.get(uri.split(":", 1)[0].lower())
        try:
            return super().request(uri, *args, connection_type=connection_type, **kwargs)
        except BaseException:
            failed, self.connections = self.connections, {}
            for connection in failed.values():
                connection.close()
            raise


def one_attempt_http(credentials: Any = None) -> httplib2.Http:
    """What googleapiclient would build for `credentials`, sending each request once.

    Same timeout and redirect rules as `googleapiclient.http.build_http`; with
    credentials, wrapped in google-auth's AuthorizedHttp (which adds the token and, on a
    401, refreshes it and sends once more: an answer, not a lost connection).
    """
    http = OneAttemptHttp(timeout=socket.getdefaulttimeout() or DEFAULT_HTTP_TIMEOUT_SEC)
    # 308 is Resume Incomplete for Google's resumable uploads, not a redirect.
    http.redirect_codes = http.redirect_codes - {308}
    return AuthorizedHttp(credentials, http=http) if credentials is not None else http
