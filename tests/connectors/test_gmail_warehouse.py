"""Gmail sync into a real DuckDB file through engine.warehouse: kill, restart, compare.

A sync that dies at any point (between batches, or with SIGKILL in the middle of a
transaction) and is started again must leave exactly the table a clean run leaves.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from connectors.google import QuotaLimiter, SyncReport, sync_gmail
from engine.warehouse import apply_batch, ensure_schema, load_cursor
from tests.emulators.helpers import ACCOUNT, HAM_MBOX, TAKEOUT_MBOX, gmail_service, mbox_mailbox

pytest_plugins = ["tests.emulators.plugin"]

ROOT = Path(__file__).resolve().parents[2]


def keys(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute("select message_key from raw.messages").fetchall()]


def sync_into(
    con: duckdb.DuckDBPyConnection, emulator: Any, *, limit: int | None = None, **kwargs: Any
) -> SyncReport:
    report = SyncReport(account=ACCOUNT)
    batches = sync_gmail(
        gmail_service(emulator),
        ACCOUNT,
        load_cursor(con, ACCOUNT, "gmail", "history"),
        limiter=QuotaLimiter.for_ceiling(10**9),
        known_message_keys=lambda: keys(con),
        report=report,
        **kwargs,
    )
    for n, batch in enumerate(batches, start=1):
        apply_batch(con, batch)
        if limit is not None and n >= limit:
            batches.close()
            break
    return report


def checksum(path: Path) -> tuple[int, str, Any]:
    """Row count, a hash of every message row (load time aside), and the cursor."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute(
            "select * exclude (loaded_at) from raw.messages order by account, message_key"
        ).fetchall()
        cursor = load_cursor(con, ACCOUNT, "gmail", "history")
    finally:
        con.close()
    return len(rows), hashlib.sha256(repr(rows).encode()).hexdigest(), cursor


def open_db(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    ensure_schema(con)
    return con


@pytest.fixture
def ham(gmail_emulator: Any) -> Any:
    gmail_emulator.add_mailbox(mbox_mailbox(HAM_MBOX))
    return gmail_emulator


@pytest.fixture
def clean_run(ham: Any, tmp_path: Path) -> tuple[int, str, Any]:
    path = tmp_path / "clean.duckdb"
    con = open_db(path)
    sync_into(con, ham)
    con.close()
    return checksum(path)


def test_stopped_between_batches_and_restarted_matches_a_clean_run(
    ham: Any, clean_run: tuple, tmp_path: Path
) -> None:
    path = tmp_path / "killed.duckdb"
    runs = 0
    while True:  # a process that dies after every 4th batch, restarted each time
        con = open_db(path)
        report = sync_into(con, ham, limit=4, max_batch=20)
        con.close()
        runs += 1
        if report.batches < 4:  # it ran to the end this time
            break
        assert runs < 100
    assert runs > 5
    assert checksum(path) == clean_run
    assert clean_run[0] == 2500


@pytest.mark.slow  # two child processes that import the warehouse (and so Dagster)
def test_sigkill_mid_sync_then_restart_matches_a_clean_run(
    ham: Any, clean_run: tuple, tmp_path: Path
) -> None:
    path = tmp_path / "sigkill.duckdb"
    progress = tmp_path / "progress.txt"
    command = [
        sys.executable,
        "-m",
        "tests.emulators.gmail_sync_child",
        "--endpoint",
        ham.endpoint,
        "--db",
        str(path),
        "--account",
        ACCOUNT,
        "--progress",
        str(progress),
        "--max-batch",
        "10",
    ]
    child = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None:
        if progress.exists() and len(progress.read_text().splitlines()) >= 20:
            break
        time.sleep(0.005)
    assert child.poll() is None, child.stderr.read().decode()
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    killed_at = len(progress.read_text().splitlines())

    rows, _, cursor = checksum(path)
    assert cursor["phase"] == "full" and 0 < rows < 2500

    finished = subprocess.run(command, cwd=ROOT, capture_output=True, timeout=120)
    assert finished.returncode == 0, finished.stderr.decode()
    assert checksum(path) == clean_run
    resumed_batches = len(progress.read_text().splitlines()) - killed_at
    assert resumed_batches < 250  # it resumed, it did not start over (about 160 in all)


def test_incremental_and_expired_history_through_the_warehouse(
    gmail_emulator: Any, tmp_path: Path
) -> None:
    box = gmail_emulator.add_mailbox(mbox_mailbox(TAKEOUT_MBOX))
    con = open_db(tmp_path / "w.duckdb")
    sync_into(con, gmail_emulator)

    ordered = [k for _, k in box.ordered()]
    box.modify_labels(ordered[0], add=["TRASH"], remove=["INBOX"])
    box.delete_message(ordered[1])
    new = box.add_message([("From", "a@example.org"), ("To", ACCOUNT)])
    report = sync_into(con, gmail_emulator)
    assert report.mode == "incremental"

    box.delete_message(ordered[2])
    box.expire_history()
    report = sync_into(con, gmail_emulator)
    assert report.mode == "full_after_404"

    rows = dict(con.execute("select message_key, labels from raw.messages").fetchall())
    assert set(rows) == set(box.messages)
    assert "TRASH" in rows[ordered[0]] and new in rows
    assert load_cursor(con, ACCOUNT, "gmail", "history") == {
        "phase": "incremental",
        "history_id": str(box.history_id),
    }
