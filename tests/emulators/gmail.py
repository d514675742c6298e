"""A local Gmail API emulator: a real HTTP server speaking the parts of Gmail v1 keepwarm uses.

Shaped after the discovery document shipped with google-api-python-client
(`googleapiclient/discovery_cache/documents/gmail.v1.json`): the same paths and query
parameters (unknown ones are refused, as Google does), the same JSON field names, int64
and uint64 values as strings (`historyId`, `internalDate`), `pageToken`/`nextPageToken`,
`resultSizeEstimate`, partial responses via `fields`, and `multipart/mixed` batches on
`POST /batch` (the library's rootUrl + batchPath) and `POST /batch/gmail/v1`.

Endpoints: users.getProfile, users.messages.list, users.messages.get, users.threads.get,
users.history.list, batch, and a small OAuth token endpoint (`POST /token`).

The mailbox is loaded from an mbox file with the standard library's `mailbox` module (an
implementation independent of the connector's header parsing), or generated
synthetically. It assigns Gmail-like ids (hex of X-GM-MSGID / the Takeout envelope's
gm-msgid when present), threadIds (X-GM-THRID, else the References/In-Reply-To chain,
named after the thread's first message as Gmail does), labelIds (from X-Gmail-Labels),
internalDate (Date header, else the envelope date) and historyIds, and records history
for mutations made by tests. It enforces the metadata scope (no `q`, no format=full/raw)
and expires history on demand (history.list then answers 404). The server, quota meter,
fault injection, field masks and token endpoint are shared with the Calendar emulator
(tests/emulators/http.py).
"""

from __future__ import annotations

import base64
import bisect
import email
import email.utils
import json
import mailbox
import random
import re
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.emulators.http import (
    NOT_FOUND,
    ApiReply,
    FaultPlan,
    GoogleApiEmulator,
    Route,
    bad_request,
    discovery_routes,
    google_error,
)

__all__ = ["FaultPlan", "GmailEmulator", "GmailMailbox", "StoredMessage"]

METADATA_SCOPE = "https://www.googleapis.com/auth/gmail.metadata"

# Gmail's documented per-method costs (legacy table; see connectors/google/gmail_api.py).
COSTS = {
    "gmail.users.getProfile": 1,
    "gmail.users.messages.list": 5,
    "gmail.users.messages.get": 5,
    "gmail.users.threads.get": 10,
    "gmail.users.history.list": 2,
}
# The table for Cloud projects created since May 2026 (6,000 units per user per minute).
COSTS_2026 = {
    **COSTS,
    "gmail.users.messages.get": 20,
    "gmail.users.threads.get": 40,
}

SYSTEM_LABELS = {
    "inbox": "INBOX",
    "sent": "SENT",
    "important": "IMPORTANT",
    "unread": "UNREAD",
    "starred": "STARRED",
    "trash": "TRASH",
    "spam": "SPAM",
    "draft": "DRAFT",
    "drafts": "DRAFT",
    "chat": "CHAT",
    "category personal": "CATEGORY_PERSONAL",
    "category social": "CATEGORY_SOCIAL",
    "category promotions": "CATEGORY_PROMOTIONS",
    "category updates": "CATEGORY_UPDATES",
    "category forums": "CATEGORY_FORUMS",
}
# Takeout pseudo-labels that are not Gmail labels.
_NOT_LABELS = {"opened", "archived"}

_MSGID = re.compile(r"<([^<>\s]+)>")
_ENVELOPE_ID = re.compile(r"^(\d+)@xxx\b")


# --------------------------------------------------------------------------- mailbox


@dataclass
class StoredMessage:
    id: str
    thread_id: str
    labels: list[str]
    internal_date: int  # milliseconds since the epoch
    history_id: int
    headers: list[tuple[str, str]]
    size_estimate: int = 0
    mime_type: str = "text/plain"
    source_index: int | None = None  # position in the mbox it came from

    def resource(self, fmt: str, wanted: set[str] | None) -> dict[str, Any]:
        """This message as a users.messages resource in `fmt` (minimal or metadata)."""
        out: dict[str, Any] = {
            "id": self.id,
            "threadId": self.thread_id,
            "labelIds": list(self.labels),
            "snippet": f"snippet of {self.id}",
            "sizeEstimate": self.size_estimate,
            "historyId": str(self.history_id),
            "internalDate": str(self.internal_date),
        }
        if fmt == "metadata":
            headers = [
                {"name": n, "value": v}
                for n, v in self.headers
                if wanted is None or n.lower() in wanted
            ]
            out["payload"] = {
                "partId": "",
                "mimeType": self.mime_type,
                "filename": "",
                "headers": headers,
                "body": {"size": 0},
            }
        return out


@dataclass
class HistoryRecord:
    id: int
    kind: str  # messageAdded, messageDeleted, labelAdded, labelRemoved
    message: dict[str, Any]
    label_ids: list[str] | None = None

    def resource(self) -> dict[str, Any]:
        short = {"id": self.message["id"], "threadId": self.message["threadId"]}
        out: dict[str, Any] = {"id": str(self.id), "messages": [short]}
        if self.kind == "messageAdded":
            out["messagesAdded"] = [{"message": self.message}]
        elif self.kind == "messageDeleted":
            out["messagesDeleted"] = [{"message": self.message}]
        elif self.kind == "labelAdded":
            out["labelsAdded"] = [{"message": self.message, "labelIds": self.label_ids}]
        else:
            out["labelsRemoved"] = [{"message": self.message, "labelIds": self.label_ids}]
        return out


class GmailMailbox:
    """One user's mailbox: messages, threads, labels and history. Thread-safe."""

    def __init__(self, address: str, *, first_history_id: int = 100_000) -> None:
        self.address = address.lower()
        self.messages: dict[str, StoredMessage] = {}
        self.history: list[HistoryRecord] = []
        self.history_id = first_history_id
        self.min_history_id = first_history_id  # older startHistoryIds answer 404
        self.user_labels: dict[str, str] = {}  # name -> Label_N
        self.lock = threading.RLock()
        self._sorted: list[tuple[int, str]] | None = None
        self._threads_total: int | None = None
        self._by_rfc_id: dict[str, str] = {}
        self._next_id = 0x18A0_0000_0000_0000

    # ---- loading

    @classmethod
    def from_mbox(cls, path: str | Path, address: str, **kwargs: Any) -> GmailMailbox:
        """A mailbox holding every message of an mbox file, in file order."""
        box = cls(address, **kwargs)
        parsed: list[tuple[int, mailbox.mboxMessage]] = list(enumerate(mailbox.mbox(str(path))))
        # Thread ids need every message first: union Message-IDs over reply chains.
        rows = []
        for index, msg in parsed:
            headers = [(name, clean_header_value(value)) for name, value in msg.raw_items()]
            envelope = msg.get_from() or ""
            gm_id = _gm_decimal(msg.get("X-GM-MSGID")) or _envelope_id(envelope)
            gm_thread = _gm_decimal(msg.get("X-GM-THRID"))
            labels = box._labels_from_takeout(msg.get("X-Gmail-Labels"))
            date = _internal_date(msg.get("Date"), envelope, index)
            rows.append((index, headers, gm_id, gm_thread, labels, date, msg.as_bytes()))
        box._load_rows(rows)
        return box

    def _load_rows(self, rows: list[tuple]) -> None:
        ids: list[str] = []
        for index, _headers, gm_id, *_ in rows:
            ids.append(format(gm_id, "x") if gm_id else self._new_id(index))
        groups = _UnionFind()
        for i, (_index, headers, *_rest) in enumerate(rows):
            own = _first_msgid(_header(headers, "message-id")) or f"__no_id_{i}"
            groups.add(own)
            for other in _msgids(_header(headers, "in-reply-to")) + _msgids(
                _header(headers, "references")
            ):
                groups.union(own, other)
        first_in_group: dict[str, tuple[int, str]] = {}
        own_ids = []
        for i, (_index, headers, _gm, _thr, _labels, date, _raw) in enumerate(rows):
            own = _first_msgid(_header(headers, "message-id")) or f"__no_id_{i}"
            own_ids.append(own)
            root = groups.find(own)
            candidate = (date, ids[i])
            if root not in first_in_group or candidate < first_in_group[root]:
                first_in_group[root] = candidate
        with self.lock:
            for i, (index, headers, _gm, gm_thread, labels, date, raw) in enumerate(rows):
                thread = (
                    format(gm_thread, "x")
                    if gm_thread
                    else first_in_group[groups.find(own_ids[i])][1]
                )
                self.history_id += 1
                stored = StoredMessage(
                    id=ids[i],
                    thread_id=thread,
                    labels=labels,
                    internal_date=date,
                    history_id=self.history_id,
                    headers=headers,
                    size_estimate=len(raw),
                    mime_type=_header(headers, "content-type", "text/plain").split(";")[0].strip(),
                    source_index=index,
                )
                self._store(stored)
            self.min_history_id = self.history_id  # the load itself is not history

    def load_messages(self, messages: Iterable[StoredMessage]) -> None:
        """Bulk-load pre-built messages (synthetic mailboxes); no history is recorded."""
        with self.lock:
            for m in messages:
                self.history_id = max(self.history_id, m.history_id)
                self._store(m)
            self.history_id += 1
            self.min_history_id = self.history_id

    def _store(self, m: StoredMessage) -> None:
        self.messages[m.id] = m
        rfc = _first_msgid(_header(m.headers, "message-id"))
        if rfc:
            self._by_rfc_id.setdefault(rfc, m.id)
        self._sorted = None
        self._threads_total = None

    def _new_id(self, salt: int) -> str:
        self._next_id += 1 + (salt % 7)
        return format(self._next_id, "x")

    def renumber_threads(self, seed: int = 0) -> dict[str, str]:
        """Give every thread a random id of its own, equal to none of its messages' ids.

        Gmail happens to name a thread after its first message, but does not promise to;
        this is a server that does not (the client must not rely on it). Returns the
        renaming, old id -> new id. History recorded before keeps the old ids.
        """
        rng = random.Random(seed)
        with self.lock:
            taken = set(self.messages)
            renamed: dict[str, str] = {}
            for m in self.messages.values():
                new = renamed.get(m.thread_id)
                if new is None:
                    new = format(rng.getrandbits(63) | 1 << 62, "x")
                    while new in taken:
                        new = format(rng.getrandbits(63) | 1 << 62, "x")
                    taken.add(new)
                    renamed[m.thread_id] = new
                m.thread_id = new
            self._threads_total = None
            self.history_id += 1  # the thread index is keyed on it: rebuild
            self.min_history_id = self.history_id
        return renamed

    def _labels_from_takeout(self, value: str | None) -> list[str]:
        if value is None:
            return ["INBOX"]
        labels = []
        for name in clean_header_value(value).split(","):
            name = name.strip()
            if not name or name.lower() in _NOT_LABELS:
                continue
            label = SYSTEM_LABELS.get(name.lower())
            if label is None:
                label = self.user_labels.setdefault(name, f"Label_{len(self.user_labels) + 1}")
            if label not in labels:
                labels.append(label)
        return labels

    # ---- mutations (each one is a history record)

    def add_message(
        self,
        headers: list[tuple[str, str]],
        *,
        labels: Iterable[str] = ("INBOX",),
        internal_date: int | None = None,
        thread_id: str | None = None,
    ) -> str:
        """Deliver a new message; it joins the thread of any message it replies to."""
        with self.lock:
            new_id = self._new_id(len(self.messages))
            if thread_id is None:
                for ref in _msgids(_header(headers, "in-reply-to")) + _msgids(
                    _header(headers, "references")
                ):
                    if ref in self._by_rfc_id and self._by_rfc_id[ref] in self.messages:
                        thread_id = self.messages[self._by_rfc_id[ref]].thread_id
                        break
            self.history_id += 1
            stored = StoredMessage(
                id=new_id,
                thread_id=thread_id or new_id,
                labels=list(labels),
                internal_date=internal_date or int(time.time() * 1000),
                history_id=self.history_id,
                headers=list(headers),
                size_estimate=sum(len(n) + len(v) + 4 for n, v in headers),
            )
            self._store(stored)
            self.history.append(HistoryRecord(self.history_id, "messageAdded", self._short(stored)))
            return new_id

    def delete_message(self, message_id: str) -> None:
        """Delete permanently (not a move to Trash: that is a label change)."""
        with self.lock:
            stored = self.messages.pop(message_id)
            self._sorted = None
            self._threads_total = None
            self.history_id += 1
            self.history.append(
                HistoryRecord(self.history_id, "messageDeleted", self._short(stored))
            )

    def modify_labels(
        self, message_id: str, add: Iterable[str] = (), remove: Iterable[str] = ()
    ) -> None:
        with self.lock:
            stored = self.messages[message_id]
            added = [x for x in add if x not in stored.labels]
            removed = [x for x in remove if x in stored.labels]
            stored.labels = [x for x in stored.labels if x not in removed] + added
            for kind, changed in (("labelAdded", added), ("labelRemoved", removed)):
                if changed:
                    self.history_id += 1
                    stored.history_id = self.history_id
                    self.history.append(
                        HistoryRecord(self.history_id, kind, self._short(stored), changed)
                    )

    def expire_history(self) -> None:
        """Forget all history so far: any older startHistoryId now answers 404."""
        with self.lock:
            self.history.clear()
            self.min_history_id = self.history_id + 1

    @staticmethod
    def _short(m: StoredMessage) -> dict[str, Any]:
        return {"id": m.id, "threadId": m.thread_id, "labelIds": list(m.labels)}

    # ---- reading

    def ordered(self) -> list[tuple[int, str]]:
        """Messages newest first, as messages.list returns them: (-internalDate, id)."""
        with self.lock:
            if self._sorted is None:
                self._sorted = sorted(
                    ((-m.internal_date, m.id) for m in self.messages.values()),
                )
            return self._sorted

    def thread(self, thread_id: str) -> list[StoredMessage]:
        with self.lock:
            found = [m for m in self.messages.values() if m.thread_id == thread_id]
        return sorted(found, key=lambda m: (m.internal_date, m.id))

    def threads_total(self) -> int:
        with self.lock:
            if self._threads_total is None:
                self._threads_total = len({m.thread_id for m in self.messages.values()})
            return self._threads_total

    def copy(self) -> GmailMailbox:
        """An independent mailbox with the same messages (headers are shared, never edited)."""
        with self.lock:
            other = GmailMailbox(self.address, first_history_id=self.history_id)
            other.user_labels = dict(self.user_labels)
            other._next_id = self._next_id
            other.load_messages(self.snapshot().values())
            # Same history position as the original (history itself is not copied).
            other.history_id = other.min_history_id = self.history_id
            return other

    def snapshot(self) -> dict[str, StoredMessage]:
        """A copy of every message, for comparing with what a sync produced."""
        with self.lock:
            return {
                k: StoredMessage(**{**m.__dict__, "labels": list(m.labels)})
                for k, m in self.messages.items()
            }


class _ThreadIndex:
    """thread id -> message ids, rebuilt lazily (threads.get on big mailboxes)."""

    def __init__(self, box: GmailMailbox) -> None:
        self.box = box
        self.version = -1
        self.index: dict[str, list[str]] = {}

    def get(self, thread_id: str) -> list[StoredMessage]:
        box = self.box
        with box.lock:
            version = (len(box.messages), box.history_id)
            if version != self.version:
                index: dict[str, list[str]] = {}
                for m in box.messages.values():
                    index.setdefault(m.thread_id, []).append(m.id)
                self.index, self.version = index, version
            found = [box.messages[i] for i in self.index.get(thread_id, []) if i in box.messages]
        return sorted(found, key=lambda m: (m.internal_date, m.id))


# --------------------------------------------------------------------------- server

_METHODS = (
    "users.getProfile",
    "users.messages.list",
    "users.messages.get",
    "users.threads.get",
    "users.history.list",
)


class GmailEmulator(GoogleApiEmulator):
    """The Gmail server. Use as a context manager, or call start() and stop().

    Args:
        units_per_minute: per-user quota ceiling; None for unlimited.
        clock: seconds on the same scale as the client's limiter (e.g. ScaledClock.now).
        faults: random failures to inject.
        scopes: scopes the tokens carry; the metadata scope forbids q and full/raw.
        costs: units per method id (`COSTS`, or `COSTS_2026` for a new project).
    """

    batch_paths = ("/batch", "/batch/gmail/v1")

    def __init__(
        self,
        *,
        units_per_minute: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        faults: FaultPlan | None = None,
        scopes: Iterable[str] = (METADATA_SCOPE,),
        costs: Mapping[str, int] = COSTS,
    ) -> None:
        super().__init__(
            units_per_minute=units_per_minute, clock=clock, faults=faults, scopes=scopes
        )
        self.costs = dict(costs)
        self.mailboxes: dict[str, GmailMailbox] = {}
        self._threads: dict[str, _ThreadIndex] = {}
        self.routes = discovery_routes("gmail", "v1", _METHODS)

    # ---- set-up

    def add_mailbox(self, box: GmailMailbox, token: str | None = None) -> GmailMailbox:
        self.mailboxes[box.address] = box
        self.meter(box.address)
        self._threads[box.address] = _ThreadIndex(box)
        if token:
            self.grant(token, box.address)
        return box

    # ---- the methods

    def accounts(self) -> Collection[str]:
        return self.mailboxes.keys()

    def cost(self, route: Route) -> int:
        return self.costs[route.method_id]

    def check(self, account: str, route: Route, query: dict[str, list[str]]) -> None:
        metadata_only = self.scopes == {METADATA_SCOPE}
        if metadata_only and "q" in query:
            self.stats.forbidden.append("q")
            raise ApiReply(
                403,
                google_error(
                    403,
                    "Metadata scope does not support 'q' parameter",
                    "forbidden",
                    "PERMISSION_DENIED",
                ),
            )
        fmt = query.get("format", ["full"])[0]
        if metadata_only and route.method_id.endswith(".get") and fmt in ("full", "raw"):
            self.stats.forbidden.append(f"format={fmt}")
            raise ApiReply(
                403,
                google_error(
                    403,
                    f"Metadata scope doesn't allow format {fmt.upper()}",
                    "forbidden",
                    "PERMISSION_DENIED",
                ),
            )

    def observe(self, route: Route, body: dict[str, Any]) -> None:
        if "snippet" in json.dumps(body):
            with self.lock:
                self.stats.snippets_sent += 1

    def answer(
        self, account: str, route: Route, args: dict[str, str], query: dict[str, list[str]]
    ) -> dict[str, Any]:
        box = self.mailboxes[account]
        user = args.get("userId", "me")
        if user not in ("me", box.address):
            raise ApiReply(
                403,
                google_error(
                    403,
                    f"Delegation denied for {box.address}",
                    "forbidden",
                    "PERMISSION_DENIED",
                ),
            )
        method = route.method_id
        if method == "gmail.users.getProfile":
            with box.lock:
                return {
                    "emailAddress": box.address,
                    "messagesTotal": len(box.messages),
                    "threadsTotal": box.threads_total(),
                    "historyId": str(box.history_id),
                }
        if method == "gmail.users.messages.list":
            return self._list_messages(box, query)
        if method == "gmail.users.messages.get":
            with box.lock:
                stored = box.messages.get(args["id"])
                if stored is None:
                    raise ApiReply(*NOT_FOUND)
                return stored.resource(*self._format(query))
        if method == "gmail.users.threads.get":
            fmt, wanted = self._format(query)
            messages = self._threads[box.address].get(args["id"])
            if not messages:
                raise ApiReply(*NOT_FOUND)
            return {
                "id": args["id"],
                "snippet": messages[-1].resource("minimal", None)["snippet"],
                "historyId": str(max(m.history_id for m in messages)),
                "messages": [m.resource(fmt, wanted) for m in messages],
            }
        if method == "gmail.users.history.list":
            return self._list_history(box, query)
        raise ApiReply(404, google_error(404, "Not found", "notFound", "NOT_FOUND"))

    @staticmethod
    def _format(query: dict[str, list[str]]) -> tuple[str, set[str] | None]:
        fmt = query.get("format", ["full"])[0]
        names = query.get("metadataHeaders")
        return fmt, ({n.lower() for n in names} if names else None)

    @staticmethod
    def _page_size(query: dict[str, list[str]]) -> int:
        try:
            size = int(query.get("maxResults", ["100"])[0])
        except ValueError as exc:
            raise bad_request("Invalid maxResults") from exc
        return max(1, min(size, 500))

    def _list_messages(self, box: GmailMailbox, query: dict[str, list[str]]) -> dict[str, Any]:
        include_spam_trash = query.get("includeSpamTrash", ["false"])[0] == "true"
        label_filter = set(query.get("labelIds", []))
        size = self._page_size(query)
        token = query.get("pageToken", [None])[0]
        after: tuple[int, str] | None = None
        if token:
            try:
                neg_date, _, last = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
                after = (int(neg_date), last)
            except (ValueError, UnicodeDecodeError) as exc:
                raise bad_request("Invalid pageToken") from exc
        with box.lock:
            ordered = box.ordered()
            total = 0
            page: list[dict[str, str]] = []
            next_token = None
            if include_spam_trash and not label_filter:
                # Nothing is filtered out: jump straight to the page.
                total = len(ordered)
                begin = bisect.bisect_right(ordered, after) if after is not None else 0
                keys = ordered[begin : begin + size]
                page = [{"id": k[1], "threadId": box.messages[k[1]].thread_id} for k in keys]
                if begin + size < total:
                    last_key = keys[-1]
                    next_token = base64.urlsafe_b64encode(
                        f"{last_key[0]}:{last_key[1]}".encode()
                    ).decode()
                ordered = []
            for key in ordered:
                m = box.messages[key[1]]
                if not include_spam_trash and ({"SPAM", "TRASH"} & set(m.labels)):
                    continue
                if label_filter and not label_filter <= set(m.labels):
                    continue
                total += 1
                if after is not None and key <= after:
                    continue
                if len(page) < size:
                    page.append({"id": m.id, "threadId": m.thread_id})
                    last_key = key
                elif next_token is None:
                    next_token = base64.urlsafe_b64encode(
                        f"{last_key[0]}:{last_key[1]}".encode()
                    ).decode()
        out: dict[str, Any] = {"resultSizeEstimate": total}
        if page:
            out["messages"] = page
        if next_token:
            out["nextPageToken"] = next_token
        return out

    def _list_history(self, box: GmailMailbox, query: dict[str, list[str]]) -> dict[str, Any]:
        raw_start = query.get("startHistoryId", [None])[0]
        if raw_start is None:
            raise bad_request("startHistoryId is required")
        start = int(raw_start)
        types = set(query.get("historyTypes", [])) or None
        size = self._page_size(query)
        offset = 0
        token = query.get("pageToken", [None])[0]
        if token:
            offset = int(base64.urlsafe_b64decode(token.encode()).decode())
        with box.lock:
            if start < box.min_history_id - 1:
                raise ApiReply(*NOT_FOUND)
            records = [
                r for r in box.history if r.id > start and (types is None or r.kind in types)
            ]
            page = records[offset : offset + size]
            out: dict[str, Any] = {"historyId": str(box.history_id)}
        if page:
            out["history"] = [r.resource() for r in page]
        if offset + size < len(records):
            out["nextPageToken"] = base64.urlsafe_b64encode(str(offset + size).encode()).decode()
        return out

    # ---- OAuth token endpoint


# --------------------------------------------------------------------------- helpers


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def add(self, x: str) -> None:
        self.parent.setdefault(x, x)

    def find(self, x: str) -> str:
        self.add(x)
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def clean_header_value(value: Any) -> str:
    """A raw header value as the API would return it: unfolded, valid Unicode."""
    text = str(value)
    if any("\udc80" <= ch <= "\udcff" for ch in text):
        text = text.encode("ascii", "surrogateescape").decode("utf-8", "replace")
    return re.sub(r"\r?\n(?=[ \t])", "", text).replace("\r", "").replace("\n", "")


def _header(headers: list[tuple[str, str]], name: str, default: str = "") -> str:
    for n, v in headers:
        if n.lower() == name:
            return v
    return default


def _msgids(value: str) -> list[str]:
    return _MSGID.findall(value or "")


def _first_msgid(value: str) -> str | None:
    found = _msgids(value)
    return found[0] if found else None


def _gm_decimal(value: Any) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() else None


def _envelope_id(envelope: str) -> int | None:
    match = _ENVELOPE_ID.match(envelope.strip())
    return int(match.group(1)) if match else None


def _internal_date(date_header: Any, envelope: str, index: int) -> int:
    """Gmail's internalDate for an imported message: the Date header, else the envelope."""
    for candidate in (date_header, " ".join(envelope.split()[1:])):
        if not candidate:
            continue
        try:
            when = email.utils.parsedate_to_datetime(str(candidate))
        except (TypeError, ValueError, IndexError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            if 1980 <= when.year <= 2100:
                return int(when.timestamp() * 1000)
    return int(datetime(2000, 1, 1, tzinfo=UTC).timestamp() * 1000) + index * 1000


def iter_mbox(path: str | Path) -> Iterator[tuple[int, mailbox.mboxMessage]]:
    """The messages of an mbox with their positions, for independent reference readings."""
    yield from enumerate(mailbox.mbox(str(path)))
