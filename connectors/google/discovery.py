"""Google API clients from the discovery documents shipped with google-api-python-client.

Shared by Gmail and Calendar: building from the shipped document needs no network call,
and lets tests point every request, batches included, at a local emulator.
"""

from __future__ import annotations

import json
from typing import Any

import httplib2
from googleapiclient.discovery import Resource, build_from_document
from googleapiclient.discovery_cache import get_static_doc

from connectors.google.transport import one_attempt_http


def build_shipped_service(
    api: str,
    version: str,
    credentials: Any = None,
    api_endpoint: str | None = None,
    *,
    http: httplib2.Http | None = None,
) -> Resource:
    """A client built from the discovery document shipped with google-api-python-client.

    Args:
        api, version: the document's name, e.g. ("gmail", "v1") or ("calendar", "v3").
        credentials: google-auth credentials (user OAuth or a delegated service account).
        api_endpoint: another root URL, e.g. "http://127.0.0.1:8765/" for an emulator.
        http: an httplib2.Http to use instead of credentials (tests). Without it, the
            client built for `credentials` sends each request once
            (`transport.one_attempt_http`), so every lost connection reaches keepwarm's
            retry and its count.

    The shipped document needs no network call to fetch it. googleapiclient derives the
    batch URL from the document's rootUrl + batchPath and ignores
    client_options["api_endpoint"] when doing so, so an overridden endpoint would still
    send batches to googleapis.com. The rootUrl is rewritten in the document itself, so
    single calls and batches go to the same place.
    """
    document = json.loads(get_static_doc(api, version))
    client_options = None
    if api_endpoint:
        root = api_endpoint if api_endpoint.endswith("/") else api_endpoint + "/"
        document["rootUrl"] = root
        document["mtlsRootUrl"] = root
        # The endpoint replaces rootUrl + servicePath (empty for Gmail, "calendar/v3/").
        client_options = {"api_endpoint": root + document.get("servicePath", "")}
    if http is None and credentials is not None:
        http, credentials = one_attempt_http(credentials), None
    return build_from_document(
        document, credentials=credentials, http=http, client_options=client_options
    )
