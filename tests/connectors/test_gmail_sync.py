"""The Gmail connector against the emulator: real HTTP, real googleapiclient, real batches.

The reference for "exactly" is independent of the connector: header-derived fields are
read from the same mbox with the standard library (`mailbox` + `email.policy.default`),
server-assigned ones (ids, threads, labels, internalDate) from the emulator's state.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httplib2
import pytest
from googleapiclient.discovery import build
from googleapiclient.http import BatchHttpRequest

from connectors.google import (
    GMAIL_SCOPES,
    GmailSyncError,
    QuotaLimiter,
    RetryPolicy,
    ScaledClock,
    SyncReport,
    build_gmail_service,
    sync_gmail,
)
from connectors.google.gmail import STREAM
from connectors.google.gmail_records import UnusableMessageError, message_record, quarantine_record
from connectors.headers import NO_USABLE_ADDRESS
from connectors.records import MessageRecord
from tests.emulators.gmail import FaultPlan, GmailMailbox, clean_header_value, iter_mbox
from tests.emulators.helpers import (
    ACCOUNT,
    HAM_MBOX,
    TAKEOUT_MBOX,
    gmail_service,
    mail_path,
    mbox_mailbox,
)
from tests.emulators.memory import MemoryWarehouse
from tests.emulators.synthetic import synthetic_mailbox

pytest_plugins = ["tests.emulators.plugin"]  # gmail_emulator, gmail_emulator_factory

UNLIMITED = 10**9


def limiter(clock: Any = None, units: int = UNLIMITED) -> QuotaLimiter:
    return QuotaLimiter.for_ceiling(units, clock=clock)


def fast_retry(seed: int = 7) -> RetryPolicy:
    import random

    return RetryPolicy(max_attempts=12, base_delay=0.001, max_delay=0.01, rng=random.Random(seed))


def run_sync(
    emulator: Any,
    warehouse: MemoryWarehouse,
    account: str = ACCOUNT,
    *,
    limit: int | None = None,
    **kwargs: Any,
) -> SyncReport:
    report = SyncReport(account=account)
    kwargs.setdefault("limiter", limiter())
    batches = sync_gmail(
        gmail_service(emulator),
        account,
        warehouse.cursor(account),
        report=report,
        **kwargs,
    )
    warehouse.apply_all(batches, limit=limit)
    return report


# ------------------------------------------------------------------ the reference


def _norm(text: str | None) -> str | None:
    return " ".join(text.split()) if text else None


def _ids(value: Any) -> list[str]:
    """Whatever sits between angle brackets (RFC 5322 msg-id), by plain splitting."""
    if value is None:
        return []
    return [p.split(">")[0].strip() for p in str(value).split("<")[1:] if ">" in p]


def reference(path: Any, box: GmailMailbox) -> dict[str, dict[str, Any]]:
    """What a faithful sync must produce, read independently of the connector."""
    by_index = {m.source_index: m for m in box.snapshot().values()}
    out: dict[str, dict[str, Any]] = {}
    for index, raw in iter_mbox(path):
        stored = by_index[index]
        msg = email.message_from_bytes(raw.as_bytes(), policy=email.policy.default)

        def addresses(name: str, msg: Any = msg) -> list[tuple[str, str | None]] | None:
            try:
                return [
                    (a.addr_spec.lower(), _norm(a.display_name))
                    for header in msg.get_all(name) or []
                    for a in header.addresses
                ]
            except Exception:  # the stdlib parser gave up: no reference for this field
                return None

        def text(name: str, msg: Any = msg) -> str | None:
            value = msg.get(name)
            return _norm(str(value)).lower() if value is not None and str(value).strip() else None

        message_id = _ids(msg.get("Message-ID"))
        out[stored.id] = {
            "thread_key": stored.thread_id,
            "labels": sorted(stored.labels),
            "sent_at": datetime.fromtimestamp(stored.internal_date / 1000, tz=UTC),
            "from_addrs": addresses("From"),
            "to_addrs": addresses("To"),
            "cc_addrs": addresses("Cc"),
            "bcc_addrs": addresses("Bcc"),
            "rfc_message_id": message_id[0] if message_id else None,
            "in_reply_to": (_ids(msg.get("In-Reply-To")) or [None])[0],
            "references": _ids(msg.get("References")),
            "list_id": text("List-Id"),
            "precedence": text("Precedence"),
            "auto_submitted": text("Auto-Submitted"),
            "has_list_unsubscribe": "List-Unsubscribe" in msg,
        }
    return out


def mismatches(record: MessageRecord, expected: dict[str, Any]) -> list[str]:
    """Fields where the record and the reference disagree (names: see below)."""
    bad = []
    for name, want in expected.items():
        got = getattr(record, name)
        if name.endswith("_addrs"):
            if want is None:
                continue
            # Quotes around a local part ('"x"@host') are kept by one parser, not the other.
            if [a.address.replace('"', "") for a in got] != [a.replace('"', "") for a, _ in want]:
                bad.append(name)
            # The stdlib drops old-style "addr (Name)" comment names and keeps encoded
            # words it considers misplaced; compare names only where it has a clean one.
            for a, (_, want_name) in zip(got, want, strict=False):
                if want_name and "=?" not in want_name and _norm(a.name) != want_name:
                    bad.append(f"{name}.name")
        elif name in ("list_id", "precedence", "auto_submitted"):
            if _norm(got) != want:
                bad.append(name)
        elif got != want:
            bad.append(name)
    return bad


def assert_exact(warehouse: MemoryWarehouse, box: GmailMailbox, account: str = ACCOUNT) -> None:
    """The warehouse holds exactly the mailbox: same ids, threads, labels and dates."""
    snapshot = box.snapshot()
    rows = {k: r for (a, k), r in warehouse.messages.items() if a == account}
    assert set(rows) == set(snapshot)
    for mid, stored in snapshot.items():
        r = rows[mid]
        assert (r.thread_key, r.labels, r.sent_at) == (
            stored.thread_id,
            sorted(stored.labels),
            datetime.fromtimestamp(stored.internal_date / 1000, tz=UTC),
        ), mid
        assert r.source == "gmail" and r.date_source == "internal_date"


# ------------------------------------------------------------------ full sync


@pytest.mark.parametrize("corpus", [TAKEOUT_MBOX, HAM_MBOX])
def test_full_sync_reproduces_the_mailbox(gmail_emulator: Any, corpus: str) -> None:
    box = gmail_emulator.add_mailbox(mbox_mailbox(corpus))
    warehouse = MemoryWarehouse()

    report = run_sync(gmail_emulator, warehouse)

    expected = reference(mail_path(corpus), box)
    rows = {key: r for (_, key), r in warehouse.messages.items()}
    assert set(rows) == set(expected)
    problems = {mid: mismatches(rows[mid], want) for mid, want in expected.items()}
    problems = {mid: p for mid, p in problems.items() if p}
    assert problems == {}
    assert all(r.subject is None for r in rows.values())
    assert not warehouse.quarantine

    assert report.mode == "full" and report.messages >= len(expected)
    assert warehouse.cursor(ACCOUNT) == {
        "phase": "incremental",
        "history_id": str(box.history_id),
    }
    # Quota as both sides count it; no call used `q`, full/raw, or leaked a snippet.
    charged = sum(m.total for m in gmail_emulator.quota.values())
    assert report.quota_units == charged
    assert gmail_emulator.stats.forbidden == []
    assert gmail_emulator.stats.snippets_sent == 0
    assert gmail_emulator.stats.batches > 0


def test_ham_corpus_facts_survive(gmail_emulator: Any) -> None:
    """Spot checks a person can read: threads, list mail, an encoded display name."""
    gmail_emulator.add_mailbox(mbox_mailbox(HAM_MBOX))
    warehouse = MemoryWarehouse()
    run_sync(gmail_emulator, warehouse)
    rows = list(warehouse.messages.values())
    threads: dict[str, int] = {}
    for r in rows:
        threads[r.thread_key] = threads.get(r.thread_key, 0) + 1
    assert max(threads.values()) > 10  # long list discussions thread together
    assert sum(1 for r in rows if r.list_id) > 1000
    names = {a.name for r in rows for a in r.from_addrs if a.name}
    assert "David Höhn" in names  # "David H=?ISO-8859-1?B?9g==?=hn"


def test_batches_go_to_the_overridden_endpoint(gmail_emulator: Any) -> None:
    gmail_emulator.add_mailbox(mbox_mailbox(TAKEOUT_MBOX))
    # The pitfall: client_options moves single calls, but the library derives the batch
    # URL from the discovery document's rootUrl, so batches would still go to Google.
    naive = build(
        "gmail",
        "v1",
        http=httplib2.Http(),
        static_discovery=True,
        client_options={"api_endpoint": gmail_emulator.endpoint},
    )
    assert naive.new_batch_http_request()._batch_uri.startswith("https://gmail.googleapis.com/")

    service = build_gmail_service(http=httplib2.Http(), api_endpoint=gmail_emulator.endpoint)
    assert service.new_batch_http_request()._batch_uri == gmail_emulator.endpoint + "batch"


def test_the_documented_batch_path_is_served_too(gmail_emulator: Any) -> None:
    """Google documents /batch/gmail/v1; the shipped discovery document says /batch."""
    box = gmail_emulator.add_mailbox(mbox_mailbox(TAKEOUT_MBOX))
    service = gmail_service(gmail_emulator)
    answers: dict[str, Any] = {}
    batch = BatchHttpRequest(
        callback=lambda rid, resp, exc: answers.update({rid: resp or exc}),
        batch_uri=gmail_emulator.endpoint + "batch/gmail/v1",
    )
    ids = [k for _, k in box.ordered()[:2]]
    for mid in ids:
        batch.add(
            service.users().messages().get(userId="me", id=mid, format="minimal"), request_id=mid
        )
    batch.execute()
    assert {rid: r["id"] for rid, r in answers.items()} == {mid: mid for mid in ids}
    assert gmail_emulator.stats.paths["/batch/gmail/v1"] == 1


def test_subject_is_read_only_when_asked(gmail_emulator: Any) -> None:
    box = gmail_emulator.add_mailbox(mbox_mailbox(TAKEOUT_MBOX))
    without, with_subject = MemoryWarehouse(), MemoryWarehouse()
    run_sync(gmail_emulator, without)
    run_sync(gmail_emulator, with_subject, include_subject=True)
    assert all(r.subject is None for r in without.messages.values())
    checked = 0
    for mid, stored in box.snapshot().items():
        raw = dict((n.lower(), v) for n, v in stored.headers).get("subject")
        if raw and "=?" not in raw:
            assert with_subject.messages[(ACCOUNT, mid)].subject == raw.strip()
            checked += 1
    assert checked > 50


def test_messages_deleted_between_listing_and_fetch_become_deletions(gmail_emulator: Any) -> None:
    box = gmail_emulator.add_mailbox(mbox_mailbox(TAKEOUT_MBOX))
    warehouse = MemoryWarehouse()
    victims = [k for _, k in box.ordered()[:3]]
    batches = sync_gmail(gmail_service(gmail_emulator), ACCOUNT, None, limiter=limiter())
    # The profile and the first page are read when the first batch is requested; delete
    # afterwards by hooking the emulator's dispatch of the first messages.get.
    original = gmail_emulator.dispatch
    deleted: list[str] = []

    def dispatch(method: str, target: str, headers: Any, *, in_batch: bool) -> Any:
        if in_batch and not deleted:
            for v in victims:
                box.delete_message(v)
                deleted.append(v)
        return original(method, target, headers, in_batch=in_batch)

    gmail_emulator.dispatch = dispatch
    warehouse.apply_all(batches)
    assert deleted
    assert_exact(warehouse, box)


def test_strategies_compared_in_quota_units(gmail_emulator: Any) -> None:
    """auto picks per thread the cheaper of threads.get and messages.get.

    (On the SpamAssassin corpus, 1.65 messages a thread, threads.get alone loses to
    messages.get; see BENCHMARKS.md. This synthetic mailbox averages about 2.9.)
    """
    box = gmail_emulator.add_mailbox(synthetic_mailbox(1200, address=ACCOUNT, seed=3))
    units = {}
    for strategy in ("messages", "threads", "auto"):
        warehouse = MemoryWarehouse()
        report = run_sync(gmail_emulator, warehouse, strategy=strategy)
        assert_exact(warehouse, box)
        units[strategy] = report.quota_units
    assert units["auto"] < units["threads"] < units["messages"]


def test_a_token_for_another_mailbox_is_refused(gmail_emulator: Any) -> None:
    gmail_emulator.add_mailbox(mbox_mailbox(TAKEOUT_MBOX))
    with pytest.raises(GmailSyncError, match=r"opens the mailbox samuelchan@gmail\.com"):
        run_sync(gmail_emulator, MemoryWarehouse(), "ana@example.com")


def test_only_the_metadata_scope_is_requested() -> None:
    assert GMAIL_SCOPES == ["https://www.googleapis.com/auth/gmail.metadata"]


def test_malformed_and_odd_headers_never_break_a_sync(gmail_emulator: Any) -> None:
    """Torture-test messages (flanker, mail-parser, CPython's email tests) as Gmail serves them."""
    files = sorted(mail_path("malformed").iterdir())
    stdlib = Path(email.__file__).resolve().parents[1] / "test" / "test_email" / "data"
    files += sorted(stdlib.glob("msg_*.txt"))
    box = GmailMailbox(ACCOUNT)
    for f in files:
        msg = email.message_from_bytes(f.read_bytes())
        box.add_message([(n, clean_header_value(v)) for n, v in msg.raw_items()], labels=["INBOX"])
    gmail_emulator.add_mailbox(box)
    warehouse = MemoryWarehouse()
    report = run_sync(gmail_emulator, warehouse, include_subject=True)

    # A message naming nobody is quarantined with the reason, as the file readers do; the
    # rest is stored exactly. Which ones name nobody, decided by the standard library.
    def names_somebody(headers: list[tuple[str, str]]) -> bool:
        values = [v for n, v in headers if n.lower() in ("from", "sender", "to", "cc", "bcc")]
        return any("@" in address.strip("@") for _, address in email.utils.getaddresses(values))

    nobody = {key for key, m in box.messages.items() if not names_somebody(m.headers)}
    assert {locator for (_, _, locator) in warehouse.quarantine} == nobody
    assert {q.reason for q in warehouse.quarantine.values()} == {NO_USABLE_ADDRESS}
    assert report.quarantined == len(nobody) and 0 < len(nobody) < len(files) // 2
    assert set(warehouse.keys(ACCOUNT)) == set(box.messages) - nobody
    for key in nobody:
        del box.messages[key]
    assert_exact(warehouse, box)
    assert len(files) > 40
    assert any(
        a.name and not a.name.isascii() for r in warehouse.messages.values() for a in r.from_addrs
    )


def test_a_message_without_internal_date_is_quarantined() -> None:
    message = {
        "id": "abc",
        "threadId": "abc",
        "payload": {"headers": [{"name": "From", "value": "Ana <ana@example.com>"}]},
    }
    with pytest.raises(UnusableMessageError):
        message_record(ACCOUNT, message)
    q = quarantine_record(ACCOUNT, message, "no internalDate")
    assert (q.source, q.locator, q.kind) == ("gmail", "abc", "message")
    assert q.excerpt == "from: Ana <ana@example.com>"


# ------------------------------------------------------------------ incremental


def _reply_headers(box: GmailMailbox, to_id: str, n: int) -> list[tuple[str, str]]:
    parent = dict((k.lower(), v) for k, v in box.messages[to_id].headers)
    parent_id = parent.get("message-id", "<none@x>")
    return [
        ("From", f"=?utf-8?q?Z=C3=B6e_Tester?= <zoe{n}@example.org>"),
        ("To", ACCOUNT),
        ("Message-ID", f"<reply{n}@example.org>"),
        ("In-Reply-To", parent_id),
        ("References", parent_id),
        ("List-Id", "Some List <some.list.example.org>"),
    ]


def test_incremental_sync_applies_adds_deletes_and_label_changes(gmail_emulator: Any) -> None:
    box = gmail_emulator.add_mailbox(mbox_mailbox(TAKEOUT_MBOX))
    warehouse = MemoryWarehouse()
    run_sync(gmail_emulator, warehouse)

    ids = [k for _, k in box.ordered()]
    reply = box.add_message(_reply_headers(box, ids[5], 1), labels=["INBOX", "UNREAD"])
    new = box.add_message([("From", "x@example.net"), ("To", ACCOUNT)], labels=["INBOX"])
    box.delete_message(ids[0])
    box.modify_labels(ids[1], add=["TRASH"], remove=["INBOX"])  # moved to Trash
    box.modify_labels(ids[2], add=["SPAM"], remove=["INBOX"])  # reported as spam
    box.modify_labels(reply, remove=["UNREAD"])
    transient = box.add_message([("From", "y@example.net")], labels=["INBOX"])
    box.delete_message(transient)  # added and gone before the sync: never fetched

    report = run_sync(gmail_emulator, warehouse)

    assert report.mode == "incremental"
    assert "messages.list" not in report.calls
    assert_exact(warehouse, box)
    assert warehouse.messages[(ACCOUNT, reply)].thread_key == box.messages[ids[5]].thread_id
    assert warehouse.messages[(ACCOUNT, reply)].from_addrs[0].name == "Zöe Tester"
    assert "TRASH" in warehouse.messages[(ACCOUNT, ids[1])].labels
    assert "SPAM" in warehouse.messages[(ACCOUNT, ids[2])].labels
    assert (ACCOUNT, new) in warehouse.messages
    assert warehouse.cursor(ACCOUNT) == {"phase": "incremental", "history_id": str(box.history_id)}
    assert report.deletions >= 1


def test_incremental_sync_with_no_changes_is_one_cheap_call(gmail_emulator: Any) -> None:
    gmail_emulator.add_mailbox(mbox_mailbox(TAKEOUT_MBOX))
    warehouse = MemoryWarehouse()
    run_sync(gmail_emulator, warehouse)
    before = warehouse.cursor(ACCOUNT)
    report = run_sync(gmail_emulator, warehouse)
    assert report.calls == {"users.getProfile": 1, "history.list": 1}
    assert report.quota_units == 3
    metadata = json.loads(json.dumps(report.as_metadata()))  # ready for Dagster metadata
    assert metadata["mode"] == "incremental" and metadata["quota_units"] == 3
    assert warehouse.cursor(ACCOUNT) == before


def test_history_pages_are_followed(gmail_emulator: Any) -> None:
    box = gmail_emulator.add_mailbox(mbox_mailbox(TAKEOUT_MBOX))
    warehouse = MemoryWarehouse()
    run_sync(gmail_emulator, warehouse)
    ids = [k for _, k in box.ordered()]
    for i in range(1200):  # more than two pages of 500 history records
        mid = ids[i % len(ids)]
        if "STARRED" in box.messages[mid].labels:
            box.modify_labels(mid, remove=["STARRED"])
        else:
            box.modify_labels(mid, add=["STARRED"])
    report = run_sync(gmail_emulator, warehouse)
    assert report.calls["history.list"] == 3
    assert_exact(warehouse, box)


# ------------------------------------------------------------------ 404: full resync


def _expired_with_stale_row(emulator: Any) -> tuple[GmailMailbox, MemoryWarehouse, str]:
    box = emulator.add_mailbox(mbox_mailbox(TAKEOUT_MBOX))
    warehouse = MemoryWarehouse()
    run_sync(emulator, warehouse)
    gone = box.ordered()[3][1]
    box.delete_message(gone)
    box.modify_labels(box.ordered()[4][1], add=["STARRED"])
    box.expire_history()  # the deletion's history record is lost with the rest
    return box, warehouse, gone


def test_expired_history_falls_back_to_a_full_resync(gmail_emulator: Any) -> None:
    box, warehouse, gone = _expired_with_stale_row(gmail_emulator)
    report = run_sync(gmail_emulator, warehouse, known_message_keys=lambda: warehouse.keys(ACCOUNT))
    assert report.mode == "full_after_404"
    assert (ACCOUNT, gone) not in warehouse.messages
    assert_exact(warehouse, box)
    assert warehouse.cursor(ACCOUNT)["phase"] == "incremental"


def test_expired_history_without_known_keys_replaces_the_account(gmail_emulator: Any) -> None:
    box, warehouse, _ = _expired_with_stale_row(gmail_emulator)
    batches = list(
        sync_gmail(
            gmail_service(gmail_emulator), ACCOUNT, warehouse.cursor(ACCOUNT), limiter=limiter()
        )
    )
    assert batches[0].replace_account_source == (ACCOUNT, "gmail")
    assert all(b.replace_account_source is None for b in batches[1:])
    for b in batches:
        warehouse.apply(b)
    assert_exact(warehouse, box)


def test_a_resync_killed_half_way_never_leaves_fewer_rows(gmail_emulator: Any) -> None:
    box, warehouse, gone = _expired_with_stale_row(gmail_emulator)
    rows_before = len(warehouse.messages)
    for _ in range(3):  # killed after one batch, three times over
        run_sync(
            gmail_emulator,
            warehouse,
            limit=1,
            max_batch=10,
            known_message_keys=lambda: warehouse.keys(ACCOUNT),
        )
        assert len(warehouse.messages) >= rows_before
        assert warehouse.cursor(ACCOUNT)["phase"] == "full"
    report = run_sync(gmail_emulator, warehouse, known_message_keys=lambda: warehouse.keys(ACCOUNT))
    assert report.resumed and report.mode == "full_after_404"
    assert (ACCOUNT, gone) not in warehouse.messages
    assert_exact(warehouse, box)


# ------------------------------------------------------------------ killed, resumed


def test_a_sync_stopped_mid_way_resumes_without_refetching_everything(gmail_emulator: Any) -> None:
    box = gmail_emulator.add_mailbox(mbox_mailbox(HAM_MBOX))
    warehouse = MemoryWarehouse()
    first = run_sync(gmail_emulator, warehouse, limit=8)
    cursor = warehouse.cursor(ACCOUNT)
    assert cursor["phase"] == "full" and cursor["done"]
    rows_after_kill = len(warehouse.messages)

    second = run_sync(gmail_emulator, warehouse)

    assert second.resumed and second.mode == "full"
    assert_exact(warehouse, box)
    # The second run fetched what was missing, plus at most the threads that straddle
    # the stopping point.
    assert second.messages < 2500 - rows_after_kill + 300
    assert first.messages + second.messages < 2500 * 1.15


def test_a_stale_page_token_in_the_cursor_starts_the_listing_again(gmail_emulator: Any) -> None:
    box = gmail_emulator.add_mailbox(mbox_mailbox(HAM_MBOX))
    warehouse = MemoryWarehouse()
    run_sync(gmail_emulator, warehouse, limit=3)
    cursor = warehouse.cursor(ACCOUNT)
    cursor["page_token"] = "expired-token"  # Gmail answers 400 to a token it forgot
    warehouse.cursors[(ACCOUNT, "gmail", STREAM)] = cursor
    report = run_sync(gmail_emulator, warehouse)
    assert report.relisted and report.resumed
    assert_exact(warehouse, box)


def test_connections_killed_mid_response_are_retried(gmail_emulator: Any) -> None:
    box = gmail_emulator.add_mailbox(mbox_mailbox(TAKEOUT_MBOX))
    warehouse = MemoryWarehouse()
    gmail_emulator.kill_next(1, "truncate")  # getProfile: half a body
    report = SyncReport(account=ACCOUNT)
    batches = sync_gmail(
        gmail_service(gmail_emulator),
        ACCOUNT,
        None,
        limiter=limiter(),
        retry=fast_retry(),
        report=report,
    )
    warehouse.apply(next(batches))
    gmail_emulator.kill_next(1, "reset")  # the next batch request: connection reset
    gmail_emulator.kill_next(1, "truncate")  # and its retry: cut off mid-multipart
    warehouse.apply_all(batches)
    assert_exact(warehouse, box)
    assert report.stats.transport_errors >= 3
    assert gmail_emulator.stats.faults["truncate"] == 2


def test_ten_percent_injected_faults_still_give_an_exact_result(
    gmail_emulator_factory: Any,
) -> None:
    clock = ScaledClock(1000)  # backoff waits of seconds last milliseconds
    emulator = gmail_emulator_factory(clock=clock.now, faults=FaultPlan(rate=0.10, seed=42))
    box = emulator.add_mailbox(mbox_mailbox(HAM_MBOX))
    warehouse = MemoryWarehouse()
    report = run_sync(
        emulator,
        warehouse,
        limiter=limiter(clock),
        retry=RetryPolicy(max_attempts=12, rng=__import__("random").Random(1)),
        clock=clock,
    )
    assert_exact(warehouse, box)
    kinds = set(emulator.stats.faults)
    assert {"500", "503", "403", "429"} <= kinds and kinds & {"drop", "reset", "truncate"}
    assert report.retries > 10
    assert report.stats.rate_limited and report.stats.server_errors


# ------------------------------------------------------------------ many accounts


def test_two_accounts_on_one_server_stay_apart(gmail_emulator: Any) -> None:
    a = gmail_emulator.add_mailbox(mbox_mailbox(TAKEOUT_MBOX), token="token-a")
    b = gmail_emulator.add_mailbox(
        synthetic_mailbox(300, address="ham@example.com"), token="token-b"
    )
    warehouse = MemoryWarehouse()
    for account, token in ((ACCOUNT, "token-a"), ("ham@example.com", "token-b")):
        batches = sync_gmail(
            gmail_service(gmail_emulator, token),
            account,
            warehouse.cursor(account),
            limiter=limiter(),
        )
        warehouse.apply_all(batches)
    assert_exact(warehouse, a, ACCOUNT)
    assert_exact(warehouse, b, "ham@example.com")
    assert warehouse.cursor(ACCOUNT, STREAM) != warehouse.cursor("ham@example.com", STREAM)
