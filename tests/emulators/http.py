"""What every local Google API emulator shares: the HTTP server, routing, quota and faults.

An emulator is a real HTTP server (a `ThreadingHTTPServer` on 127.0.0.1) that a real
googleapiclient client talks to. The pieces here know nothing of mail or calendars:

* routes read from the discovery document shipped with google-api-python-client: path
  templates, query parameters (unknown ones are refused with 400, as Google does; enum,
  boolean and integer values are checked) and the OAuth scopes each method accepts;
* bearer tokens mapped to accounts, each token with the scopes it was granted (a call
  whose method accepts none of them answers 403 insufficientPermissions);
* a per-account quota meter on an injectable clock (429 rateLimitExceeded past it);
* injected faults: canned 5xx/403/429 answers, and connections dropped, reset or cut off
  mid-body, at a seeded random rate or on demand (`kill_next`);
* partial responses (`fields`), `multipart/mixed` batches, and an OAuth token endpoint
  (`POST /token`) that can refuse a refresh (`refresh_error`) or a scope it never granted.

A concrete emulator subclasses `GoogleApiEmulator` and answers its methods in `answer`.
"""

from __future__ import annotations

import contextlib
import email
import json
import random
import re
import socket
import struct
import threading
import time
import urllib.parse
from collections import Counter, deque
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from googleapiclient.discovery_cache import get_static_doc

# --------------------------------------------------------------------------- errors


def google_error(code: int, message: str, reason: str, status: str, domain: str = "global") -> dict:
    """An error body in the shape Google's JSON APIs use."""
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": domain, "reason": reason}],
            "status": status,
        }
    }


def bad_request(message: str, reason: str = "invalidArgument") -> ApiReply:
    return ApiReply(400, google_error(400, message, reason, "INVALID_ARGUMENT"))


FAULT_RESPONSES = {
    "500": (500, google_error(500, "Backend Error", "backendError", "INTERNAL")),
    "503": (
        503,
        google_error(503, "The service is currently unavailable.", "backendError", "UNAVAILABLE"),
    ),
    "403": (
        403,
        google_error(
            403,
            "User-rate limit exceeded.",
            "userRateLimitExceeded",
            "PERMISSION_DENIED",
            "usageLimits",
        ),
    ),
    "429": (
        429,
        google_error(
            429,
            "Too many concurrent requests for user.",
            "rateLimitExceeded",
            "RESOURCE_EXHAUSTED",
            "usageLimits",
        ),
    ),
}
QUOTA_EXCEEDED = (
    429,
    google_error(
        429,
        "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user'.",
        "rateLimitExceeded",
        "RESOURCE_EXHAUSTED",
        "usageLimits",
    ),
)
NOT_FOUND = (404, google_error(404, "Requested entity was not found.", "notFound", "NOT_FOUND"))
INSUFFICIENT_SCOPES = (
    403,
    google_error(
        403,
        "Request had insufficient authentication scopes.",
        "insufficientPermissions",
        "PERMISSION_DENIED",
    ),
)


def api_not_enabled(title: str, service: str) -> tuple[int, dict]:
    """Google's answer to every call of an API its Cloud project has not enabled."""
    message = (f"{title} has not been used in project 123456 before or it is disabled. Enable "
               f"it by visiting https://console.developers.google.com/apis/api/{service}/"
               "overview?project=123456 then retry.")
    return 403, google_error(403, message, "accessNotConfigured", "PERMISSION_DENIED",
                             "usageLimits")


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    410: "Gone",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class ApiReply(Exception):
    """Raised anywhere while answering a call: the status and JSON body to send instead."""

    def __init__(self, status: int, body: dict) -> None:
        self.status, self.body = status, body


# --------------------------------------------------------------------------- quota & faults


class QuotaMeter:
    """Per-user quota over a sliding 60-second window of the emulator's clock."""

    def __init__(self, units_per_minute: int | None, clock: Callable[[], float]) -> None:
        self.limit = units_per_minute
        self.clock = clock
        self.window: deque[tuple[float, int]] = deque()
        self.in_window = 0
        self.log: list[tuple[float, int]] = []
        self.max_in_window = 0
        self.rejected = 0
        self.lock = threading.Lock()

    def charge(self, units: int) -> bool:
        with self.lock:
            now = self.clock()
            while self.window and self.window[0][0] <= now - 60.0:
                self.in_window -= self.window.popleft()[1]
            if self.limit is not None and self.in_window + units > self.limit:
                self.rejected += 1
                return False
            self.window.append((now, units))
            self.in_window += units
            self.max_in_window = max(self.max_in_window, self.in_window)
            self.log.append((now, units))
            return True

    @property
    def total(self) -> int:
        return sum(u for _, u in self.log)


@dataclass
class FaultPlan:
    """Random failures: each API request (and each batch part) fails with `rate`."""

    rate: float = 0.0
    seed: int = 0
    kinds: tuple[str, ...] = ("500", "503", "403", "429", "drop", "reset", "truncate")
    where: tuple[str, ...] = ("requests", "parts")  # whole HTTP requests, batch parts
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.lock = threading.Lock()

    def pick(self, *, connection_level: bool) -> str | None:
        if ("requests" if connection_level else "parts") not in self.where:
            return None
        kinds = self.kinds if connection_level else tuple(k for k in self.kinds if k.isdigit())
        with self.lock:
            if not kinds or self.rng.random() >= self.rate:
                return None
            return self.rng.choice(kinds)


# --------------------------------------------------------------------------- routing


@dataclass(frozen=True)
class Route:
    """One API method as its discovery document describes it."""

    method_id: str
    http_method: str
    pattern: re.Pattern[str]
    path_params: tuple[str, ...]
    query_params: dict[str, dict[str, Any]]
    scopes: frozenset[str]


def discovery_routes(api: str, version: str, methods: Iterable[str]) -> list[Route]:
    """Routes for methods named by their resource path ("users.messages.get").

    The path pattern is the document's servicePath plus the method's path, so it is the
    URL a client built from the same document sends.
    """
    doc = json.loads(get_static_doc(api, version))
    routes = []
    for dotted in methods:
        *resources, name = dotted.split(".")
        node: dict[str, Any] = doc
        for resource in resources:
            node = node["resources"][resource]
        desc = node["methods"][name]
        full_path = doc.get("servicePath", "") + desc["path"]
        # "{name}" is one path segment; "{+name}" (reserved expansion, e.g. the People
        # API's "{+resourceName}" = "people/me") may span several.
        names = tuple(re.findall(r"\{\+?(\w+)\}", full_path))
        regex = re.sub(r"\\\{\\\+(\w+)\\\}", r"(.+?)", re.escape(full_path))
        regex = "^/" + re.sub(r"\\\{(\w+)\\\}", r"([^/]+)", regex) + "$"
        declared = desc.get("parameters", {})
        params = {k: v for k, v in declared.items() if v.get("location") == "query"}
        params.update(doc["parameters"])
        routes.append(
            Route(
                desc["id"],
                desc["httpMethod"],
                re.compile(regex),
                names,
                params,
                frozenset(desc.get("scopes", ())),
            )
        )
    return routes


def parse_fields(spec: str) -> dict[str, Any]:
    """A `fields` mask ("a,b(c,d),e/f") as a tree; an empty subtree keeps everything."""
    pos = 0

    def parse_list() -> dict[str, Any]:
        nonlocal pos
        tree: dict[str, Any] = {}
        while pos < len(spec):
            start = pos
            while pos < len(spec) and spec[pos] not in ",()":
                pos += 1
            parts = spec[start:pos].strip().split("/")
            node = tree
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            leaf = node.setdefault(parts[-1], {})
            if pos < len(spec) and spec[pos] == "(":
                pos += 1
                leaf.update(parse_list())
                pos += 1  # the ")"
            if pos < len(spec) and spec[pos] == ",":
                pos += 1
                continue
            break
        return tree

    return parse_list()


def apply_fields(value: Any, tree: dict[str, Any]) -> Any:
    if not tree:
        return value
    if isinstance(value, list):
        return [apply_fields(v, tree) for v in value]
    if isinstance(value, dict):
        return {k: apply_fields(v, tree[k]) for k, v in value.items() if k in tree}
    return value


def query_value(query: dict[str, list[str]], name: str, default: str | None = None) -> str | None:
    """The single value of a query parameter, or `default` when it was not sent."""
    values = query.get(name)
    return values[0] if values else default


def query_flag(query: dict[str, list[str]], name: str) -> bool | None:
    """A boolean query parameter (already validated), or None when it was not sent."""
    value = query_value(query, name)
    return None if value is None else value == "true"


# --------------------------------------------------------------------------- server


@dataclass
class EmulatorStats:
    requests: int = 0
    batches: int = 0
    batch_parts: int = 0
    calls: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    faults: Counter = field(default_factory=Counter)
    quota_rejections: int = 0
    paths: Counter = field(default_factory=Counter)
    snippets_sent: int = 0  # Gmail: message snippets that went over the wire
    # Units charged for calls whose answer was then cut off mid-body ("truncate"): the
    # client never saw them answered.
    units_cut_off: int = 0
    statuses_cut_off: Counter = field(default_factory=Counter)  # of calls in those answers
    forbidden: list[str] = field(default_factory=list)  # requests the scope did not allow


class GoogleApiEmulator:
    """The server, accounts, tokens, quota and faults; subclasses answer the methods.

    Args:
        units_per_minute: per-user quota ceiling; None for unlimited.
        clock: seconds on the same scale as the client's limiter (e.g. ScaledClock.now).
        faults: random failures to inject.
        scopes: scopes granted to tokens the emulator did not mint itself, and to
            refresh tokens.

    Subclasses set `routes` and `batch_paths` and implement `accounts`, `cost` and
    `answer`; `check` and `observe` are optional hooks.
    """

    batch_paths: tuple[str, ...] = ()

    def __init__(
        self,
        *,
        units_per_minute: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        faults: FaultPlan | None = None,
        scopes: Iterable[str] = (),
    ) -> None:
        self.tokens: dict[str, str] = {}  # bearer token -> account
        self.token_scopes: dict[str, set[str]] = {}
        self.quota: dict[str, QuotaMeter] = {}
        self.units_per_minute = units_per_minute
        self.clock = clock
        self.faults = faults or FaultPlan()
        self.scopes = set(scopes)
        self.stats = EmulatorStats()
        self.lock = threading.Lock()
        self.routes: list[Route] = []
        self.refresh_error: str | None = None  # e.g. "invalid_grant"
        # An answer to every call, as Google gives when the API is not enabled in the
        # client's project or an organisation's policy forbids it: (status, JSON body).
        self.refusal: tuple[int, dict] | None = None
        self.oauth_requests: list[dict[str, list[str]]] = []
        self._kill_queue: deque[str] = deque()
        self._charging = threading.local()  # units charged by the request being answered
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- what subclasses provide

    def accounts(self) -> Collection[str]:
        """The accounts this emulator holds data for."""
        raise NotImplementedError

    def cost(self, route: Route) -> int:
        """Quota units one call of `route` costs."""
        raise NotImplementedError

    def answer(
        self, account: str, route: Route, args: dict[str, str], query: dict[str, list[str]]
    ) -> dict[str, Any]:
        """The JSON body of a successful call; raise ApiReply for anything else."""
        raise NotImplementedError

    def check(self, account: str, route: Route, query: dict[str, list[str]]) -> None:
        """Refuse a call before it is charged (raise ApiReply); the default allows all."""

    def observe(self, route: Route, body: dict[str, Any]) -> None:
        """See a body just before it is sent (for statistics)."""

    # ---- set-up

    def meter(self, account: str) -> QuotaMeter:
        """The quota meter of an account (made on first use)."""
        with self.lock:
            if account not in self.quota:
                self.quota[account] = QuotaMeter(self.units_per_minute, self.clock)
            return self.quota[account]

    def set_quota(self, units_per_minute: int | None) -> None:
        self.units_per_minute = units_per_minute
        for meter in self.quota.values():
            meter.limit = units_per_minute

    def grant(self, token: str, account: str, scopes: Iterable[str] | None = None) -> None:
        """Accept `token` for `account`, carrying `scopes` (the emulator's by default)."""
        self.tokens[token] = account
        if scopes is not None:
            self.token_scopes[token] = set(scopes)

    def kill_next(self, count: int = 1, mode: str = "truncate") -> None:
        """Make the next `count` API requests die: "truncate" (half a body), "reset", "drop"."""
        with self.lock:
            self._kill_queue.extend([mode] * count)

    @property
    def endpoint(self) -> str:
        assert self._server is not None, "start() the emulator first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> Self:
        handler = type("Handler", (_Handler,), {"emulator": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, daemon=True, kwargs={"poll_interval": 0.05}
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- request handling (called from handler threads)

    def next_kill(self) -> str | None:
        with self.lock:
            if self._kill_queue:
                return self._kill_queue.popleft()
        return self.faults.pick(connection_level=True)

    def _token(self, headers: Any) -> str:
        auth = headers.get("Authorization") or headers.get("authorization") or ""
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if not token:
            raise ApiReply(
                401,
                google_error(
                    401,
                    "Request is missing required authentication credential.",
                    "required",
                    "UNAUTHENTICATED",
                ),
            )
        return token

    def authenticate(self, headers: Any) -> tuple[str, set[str]]:
        """The account a request acts for and the scopes its token carries."""
        token = self._token(headers)
        account = self.tokens.get(token)
        held = self.accounts()
        if account is None and len(held) == 1:
            account = next(iter(held))
        if account is None or account not in held:
            raise ApiReply(
                401,
                google_error(
                    401,
                    "Request had invalid authentication credentials.",
                    "authError",
                    "UNAUTHENTICATED",
                ),
            )
        return account, self.token_scopes.get(token, self.scopes)

    def dispatch(
        self, method: str, target: str, headers: Any, *, in_batch: bool
    ) -> tuple[int, dict]:
        """Answer one API call: (status, JSON body). Charges quota, may inject a fault."""
        parsed = urllib.parse.urlsplit(target)
        path = parsed.path
        with self.lock:
            self.stats.paths["/".join(path.split("/")[:3])] += 1
        try:
            account, scopes = self.authenticate(headers)
            if self.refusal is not None:
                raise ApiReply(*self.refusal)
            route, args = self._route(method, path)
            query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
            self._validate(route, query)
            if route.scopes and not route.scopes & scopes:
                with self.lock:
                    self.stats.forbidden.append(f"scope:{route.method_id}")
                raise ApiReply(*INSUFFICIENT_SCOPES)
            self.check(account, route, query)
            if in_batch:
                fault = self.faults.pick(connection_level=False)
                if fault:
                    with self.lock:
                        self.stats.faults[fault] += 1
                    raise ApiReply(*FAULT_RESPONSES[fault])
            if not self.meter(account).charge(self.cost(route)):
                with self.lock:
                    self.stats.quota_rejections += 1
                raise ApiReply(*QUOTA_EXCEEDED)
            self._charging.units = getattr(self._charging, "units", 0) + self.cost(route)
            with self.lock:
                self.stats.calls[route.method_id] += 1
            body = self.answer(account, route, args, query)
            fields = query_value(query, "fields")
            if fields:
                body = apply_fields(body, parse_fields(fields))
            self.observe(route, body)
            return 200, body
        except ApiReply as reply:
            return reply.status, reply.body

    def _route(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        for route in self.routes:
            match = route.pattern.match(path)
            if match and route.http_method == method:
                return route, {
                    k: urllib.parse.unquote(v)
                    for k, v in zip(route.path_params, match.groups(), strict=True)
                }
        raise ApiReply(
            404, google_error(404, f"Not found: {method} {path}", "notFound", "NOT_FOUND")
        )

    @staticmethod
    def _validate(route: Route, query: dict[str, list[str]]) -> None:
        for name, values in query.items():
            spec = route.query_params.get(name)
            if spec is None:
                raise bad_request(
                    f"Invalid JSON payload received. Unknown name "
                    f'"{name}": Cannot bind query parameter.'
                )
            if len(values) > 1 and not spec.get("repeated"):
                raise bad_request(f"{name} given twice")
            for value in values:
                if "enum" in spec and value not in spec["enum"]:
                    raise bad_request(f"Invalid value at '{name}' ({value})")
                if spec.get("type") == "boolean" and value not in ("true", "false"):
                    raise bad_request(f"Invalid value at '{name}' ({value}), not a boolean")
                if spec.get("type") == "integer" and not re.fullmatch(r"-?\d+", value):
                    raise bad_request(f"Invalid value at '{name}' ({value}), not an integer")

    def start_charging(self) -> None:
        """Start counting the units the current request (a batch: all its parts) costs."""
        self._charging.units = 0

    def charged_units(self) -> int:
        """Units charged since `start_charging` in this handler thread."""
        return getattr(self._charging, "units", 0)

    def cut_off(self, statuses: Iterable[int]) -> None:
        """The answer to the current request, with these statuses of its calls, was cut
        off: the client sees none of them, and the charges were for nothing."""
        with self.lock:
            self.stats.units_cut_off += self.charged_units()
            self.stats.statuses_cut_off.update(statuses)

    # ---- OAuth token endpoint

    def token_endpoint(self, form: dict[str, list[str]]) -> tuple[int, dict]:
        """Google's token endpoint: codes and refresh tokens become access tokens.

        A refresh may ask for fewer scopes than were granted (each access token then
        carries only those), never for more (400 invalid_scope, as Google answers).
        """
        self.oauth_requests.append(form)
        grant = form.get("grant_type", [""])[0]
        if grant == "refresh_token" and self.refresh_error:
            return 400, {
                "error": self.refresh_error,
                "error_description": "Token has been expired or revoked.",
            }
        if grant not in ("authorization_code", "refresh_token"):
            return 400, {"error": "unsupported_grant_type"}
        asked = set(" ".join(form.get("scope", [])).split())
        if asked - self.scopes:
            return 400, {"error": "invalid_scope", "error_description": "Bad Request"}
        scopes = asked or set(self.scopes)
        token = f"access-{len(self.oauth_requests)}"
        held = self.accounts()
        if held:
            self.grant(token, next(iter(held)), scopes)
        body = {
            "access_token": token,
            "expires_in": 3599,
            "scope": " ".join(sorted(scopes)),
            "token_type": "Bearer",
        }
        if grant == "authorization_code":
            body["refresh_token"] = f"refresh-{len(self.oauth_requests)}"
        return 200, body


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Connections the emulator killed on purpose, or that a client closed, are normal.
        pass


class _Handler(BaseHTTPRequestHandler):
    emulator: GoogleApiEmulator
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without NODELAY, Nagle plus the client's
        # delayed ACK adds 40 ms to every response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._api("GET")

    def do_POST(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if path == "/token":
            form = urllib.parse.parse_qs(body.decode())
            status, payload = self.emulator.token_endpoint(form)
            self._send(status, json.dumps(payload).encode(), "application/json")
            return
        if path in self.emulator.batch_paths:
            self._batch(path, body)
            return
        self._api("POST")

    def _draw_fault(self) -> tuple[str | None, tuple[int, Any] | None, bool]:
        """The next injected fault: (kind, canned error response, connection already cut)."""
        em = self.emulator
        kill = em.next_kill()
        if kill in ("drop", "reset"):
            self._kill(kill, None)
            return kill, None, True
        if kill and kill in FAULT_RESPONSES:
            with em.lock:
                em.stats.faults[kill] += 1
            return kill, FAULT_RESPONSES[kill], False
        return kill, None, False

    def _api(self, method: str) -> None:
        em = self.emulator
        with em.lock:
            em.stats.requests += 1
        kill, fault, cut = self._draw_fault()
        if cut:
            return
        em.start_charging()
        if fault:
            status, payload = fault
        else:
            status, payload = em.dispatch(method, self.path, self.headers, in_batch=False)
        data = json.dumps(payload).encode()
        if kill == "truncate":
            em.cut_off([status])
            self._kill(kill, (status, data, "application/json; charset=UTF-8"))
            return
        with em.lock:
            em.stats.statuses[status] += 1
        self._send(status, data, "application/json; charset=UTF-8")

    def _batch(self, path: str, body: bytes) -> None:
        em = self.emulator
        with em.lock:
            em.stats.requests += 1
            em.stats.batches += 1
            em.stats.paths[path] += 1
        kill, fault, cut = self._draw_fault()
        if cut:
            return
        if fault:
            status, payload = fault
            self._send(status, json.dumps(payload).encode(), "application/json; charset=UTF-8")
            return
        content_type = self.headers.get("Content-Type", "")
        outer = email.message_from_bytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
        parts = outer.get_payload() if outer.is_multipart() else []
        if not parts or len(parts) > 100:
            reply = bad_request("A batch holds 1 to 100 requests")
            self._send(reply.status, json.dumps(reply.body).encode(), "application/json")
            return
        boundary = f"batch_{random.getrandbits(64):x}"
        chunks = []
        statuses = []
        em.start_charging()
        for part in parts:
            content_id = (part.get("Content-ID") or "").strip()
            inner = content_id[1:-1] if content_id.startswith("<") else content_id
            payload = part.get_payload(decode=False)
            if isinstance(payload, list):  # a nested message: take its text
                payload = payload[0].as_string()
            request_line, _, rest = payload.lstrip("\r\n").partition("\n")
            sub_method, target, _version = request_line.strip().split(" ", 2)
            sub_headers = email.message_from_string(rest)
            with em.lock:
                em.stats.batch_parts += 1
            status, reply_body = em.dispatch(sub_method, target, sub_headers, in_batch=True)
            statuses.append(status)
            with em.lock:
                em.stats.statuses[status] += 1
            chunks.append(
                f"--{boundary}\r\n"
                "Content-Type: application/http\r\n"
                f"Content-ID: <response-{inner}>\r\n\r\n"
                f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
                "Content-Type: application/json; charset=UTF-8\r\n\r\n"
                f"{json.dumps(reply_body)}\r\n"
            )
        data = ("".join(chunks) + f"--{boundary}--\r\n").encode()
        content = f"multipart/mixed; boundary={boundary}"
        if kill == "truncate":
            em.cut_off(statuses)
            self._kill(kill, (200, data, content))
            return
        self._send(200, data, content)

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _kill(self, mode: str, reply: tuple[int, bytes, str] | None) -> None:
        em = self.emulator
        with em.lock:
            em.stats.faults[mode] += 1
        try:
            if mode == "truncate" and reply is not None:
                status, data, content_type = reply
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
            if mode == "reset":
                # Linger 0: close() sends RST, the client sees ConnectionResetError.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        finally:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.close()

    def finish(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            super().finish()
