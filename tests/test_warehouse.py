"""Loading batches: upserts by natural key, atomic cursors, quarantine kept once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from connectors.records import (
    Address,
    Attendee,
    Batch,
    Cursor,
    EventRecord,
    MessageRecord,
    QuarantineRecord,
)
from engine.warehouse import (
    Warehouse,
    WarehouseLockedError,
    apply_batch,
    load_cursor,
    run_sql_file,
    sql_statements,
)
from tests.conftest import utc


def message(key: str, minute: int = 0, **changes) -> MessageRecord:
    fields = dict(
        account="me@x.example",
        source="mbox",
        message_key=key,
        sent_at=utc(2026, 1, 1, 9, minute),
        date_source="date_header",
        rfc_message_id=f"{key}@x",
        from_addrs=[Address("ana@x.example", "Ana")],
        to_addrs=[Address("me@x.example")],
        labels=["INBOX"],
        references=["r1@x", "r2@x"],
    )
    return MessageRecord(**{**fields, **changes})


def rows(con, query: str) -> list[tuple]:
    return con.execute(query).fetchall()


def test_messages_round_trip_with_nested_fields(con):
    apply_batch(con, Batch(messages=[message("a", cc_addrs=[Address("bo@x.example", None)])]))
    got = rows(
        con,
        'select message_key, sent_at, from_addrs, cc_addrs, "references", labels, '
        "has_list_unsubscribe from raw.messages",
    )
    assert got == [
        (
            "a",
            utc(2026, 1, 1, 9, 0),
            [{"address": "ana@x.example", "name": "Ana"}],
            [{"address": "bo@x.example", "name": None}],
            ["r1@x", "r2@x"],
            ["INBOX"],
            False,
        )
    ]


def test_replaying_a_batch_changes_nothing_and_a_changed_record_replaces_the_old(con):
    batch = Batch(messages=[message("a"), message("b")])
    apply_batch(con, batch)
    apply_batch(con, batch)
    assert rows(con, "select count(*) from raw.messages") == [(2,)]
    apply_batch(con, Batch(messages=[message("a", labels=["TRASH"])]))
    assert rows(con, "select message_key, labels from raw.messages order by 1") == [
        ("a", ["TRASH"]),
        ("b", ["INBOX"]),
    ]


def test_a_key_repeated_inside_one_batch_keeps_the_last(con):
    apply_batch(
        con,
        Batch(
            messages=[message("a", labels=["INBOX"]), message("a", labels=["INBOX", "IMPORTANT"])]
        ),
    )
    assert rows(con, "select labels from raw.messages") == [(["INBOX", "IMPORTANT"],)]


def test_deletions_and_replacement(con):
    apply_batch(con, Batch(messages=[message("a"), message("b"), message("c")]))
    apply_batch(con, Batch(deleted_message_keys=[("me@x.example", "b")]))
    assert rows(con, "select message_key from raw.messages order by 1") == [("a",), ("c",)]
    apply_batch(
        con, Batch(messages=[message("z")], replace_account_source=("me@x.example", "mbox"))
    )
    assert rows(con, "select message_key from raw.messages") == [("z",)]


def test_events_upsert_by_calendar_and_key(con):
    start = utc(2026, 2, 1, 10)
    event = EventRecord(
        account="me@x.example",
        source="ics",
        calendar_id="work",
        event_key="u1",
        start_at=start,
        end_at=start + timedelta(hours=1),
        attendees=[Attendee("ana@x.example", response_status="accepted")],
    )
    apply_batch(con, Batch(events=[event]))
    event.status = "cancelled"
    apply_batch(con, Batch(events=[event]))
    assert rows(con, "select status, attendees[1].response_status from raw.events") == [
        ("cancelled", "accepted")
    ]


def test_cursor_commits_with_its_rows_or_not_at_all(con):
    cursor = Cursor("me@x.example", "mbox", "/mail/all.mbox", {"offset": 1234})
    apply_batch(con, Batch(messages=[message("a")], cursor=cursor))
    assert load_cursor(con, "me@x.example", "mbox", "/mail/all.mbox") == {"offset": 1234}

    # A record that cannot be stored (sent_at is NOT NULL) fails the whole batch: neither
    # its rows nor its cursor land, so the next run starts again from offset 1234.
    bad = Batch(
        messages=[message("b"), message("c", sent_at=None)],
        cursor=Cursor("me@x.example", "mbox", "/mail/all.mbox", {"offset": 9999}),
    )
    with pytest.raises(duckdb.ConstraintException):
        apply_batch(con, bad)
    assert rows(con, "select message_key from raw.messages") == [("a",)]
    assert load_cursor(con, "me@x.example", "mbox", "/mail/all.mbox") == {"offset": 1234}
    assert load_cursor(con, "me@x.example", "mbox", "/other") is None


def test_quarantine_keeps_each_locator_once(con):
    q = QuarantineRecord(
        "mbox", "me@x.example", "message", "/m.mbox:120", "no From or To", "Subject: ?"
    )
    apply_batch(con, Batch(quarantine=[q, q]))
    apply_batch(con, Batch(quarantine=[q]))
    assert rows(con, "select locator, reason from raw.quarantine") == [
        ("/m.mbox:120", "no From or To")
    ]


def test_sql_files_split_into_statements_and_bind_parameters(tmp_path: Path, con):
    sql = tmp_path / "t.sql"
    sql.write_text(
        "-- a comment; with a semicolon\n"
        "create table t as select range as n from range(10) where range >= $low;\n\n"
        "comment on table t is 'numbers; from $low up';\n"
    )
    assert len(sql_statements(sql)) == 2
    run_sql_file(con, sql, {"low": 7, "unused": 1})
    assert rows(con, "select count(*) from t") == [(3,)]
    with pytest.raises(KeyError, match="low"):
        run_sql_file(con, sql, {})


@pytest.mark.parametrize("read_only", [False, True])
def test_a_locked_warehouse_says_what_holds_it_and_where_to_read(tmp_path: Path, read_only):
    import subprocess
    import sys

    path = tmp_path / "locked.duckdb"
    duckdb.connect(str(path)).close()
    # A second process holds the file open, as a user's DuckDB shell or notebook would: a
    # read-only session holds it as firmly as a writer.
    script = (f"import duckdb, time; c = duckdb.connect({str(path)!r}, read_only={read_only}); "
              "print('ready', flush=True); time.sleep(30)")
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        warehouse = Warehouse(path=str(path), lock_timeout_s=0.5)
        with pytest.raises(WarehouseLockedError) as raised, warehouse.connect():
            pass
        command = f"{sys.executable} -c {script}"
        shown = command if len(command) <= 200 else command[:199] + "…"  # long ones cut
        assert str(raised.value) == (
            f"{path} is held by process {holder.pid} ({shown}), a DuckDB "
            "session (shell, notebook or script; read-only ones hold it too) that keeps the "
            "run from writing. Close it; to query while runs write, open the serving copy "
            f"{warehouse.serving_file()}, which no run holds (keepwarm sql reads it).")
    finally:
        holder.kill()
        holder.wait()
