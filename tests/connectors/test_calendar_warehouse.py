"""Calendar sync into a real DuckDB file through engine.warehouse, and through the model.

A sync that dies at any point (between batches, or with SIGKILL in the middle of a
transaction) and is started again must leave exactly the table a clean run leaves; and
the model must treat events read from the API as it treats .ics events.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from connectors.google import CalendarSyncReport
from engine.warehouse import apply_batch, ensure_schema, load_cursor
from tests.conftest import make_config, rebuild_model
from tests.emulators.calendar import series_id
from tests.emulators.calendar_sync_child import known_events
from tests.emulators.helpers import (
    CAL_ACCOUNT,
    CAL_WINDOW,
    ana_calendar,
    calendar_service,
    sync_primary,
)
from tests.emulators.memory import apply_in_order, restarted_until_done
from tests.emulators.sync_child import kill_after

pytest_plugins = ["tests.emulators.plugin"]

PAGE = 25


def open_db(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    ensure_schema(con)
    return con


def sync_into(
    con: duckdb.DuckDBPyConnection, emulator: Any, *, limit: int | None = None
) -> CalendarSyncReport:
    report = CalendarSyncReport(CAL_ACCOUNT, "primary")
    batches = sync_primary(
        calendar_service(emulator),
        load_cursor(con, CAL_ACCOUNT, "gcal", "primary"),
        known_events=lambda: known_events(con, CAL_ACCOUNT, "primary"),
        page_size=PAGE,
        report=report,
    )
    apply_in_order(lambda batch: apply_batch(con, batch), batches, limit)
    return report


def checksum(path: Path) -> tuple[int, str, Any]:
    """Row count and a digest of every event row (load time aside), and the cursor."""
    with duckdb.connect(str(path), read_only=True) as con:
        count, digest = con.execute(
            """
            select count(*), md5(coalesce(string_agg(line, chr(10) order by line), ''))
            from (select e::varchar as line from (select * exclude (loaded_at) from raw.events) e)
            """
        ).fetchall()[0]
        return count, digest, load_cursor(con, CAL_ACCOUNT, "gcal", "primary")


@pytest.fixture
def emulator(calendar_emulator: Any) -> Any:
    calendar_emulator.add_calendar(CAL_ACCOUNT, ana_calendar())
    return calendar_emulator


def synced_file(path: Path, emulator: Any, limit: int | None = None) -> int:
    """Sync into the file at `path` in a fresh connection, as one process would."""
    with open_db(path) as con:
        return sync_into(con, emulator, limit=limit).batches


@pytest.fixture
def clean_run(emulator: Any, tmp_path: Path) -> tuple[int, str, Any]:
    synced_file(tmp_path / "clean.duckdb", emulator)
    return checksum(tmp_path / "clean.duckdb")


def test_stopped_between_batches_and_restarted_matches_a_clean_run(
    emulator: Any, clean_run: tuple, tmp_path: Path
) -> None:
    path = tmp_path / "stopped.duckdb"
    # A process that dies after every 3rd batch, restarted each time: 14 pages of 25 and
    # the incremental pass are 15 batches, and a sixth run finds only the incremental.
    assert restarted_until_done(lambda _: synced_file(path, emulator, limit=3), 3) == 6
    assert checksum(path) == clean_run
    assert clean_run[0] == 330


@pytest.mark.slow  # a child process that imports the warehouse (and so Dagster)
def test_sigkill_mid_sync_then_restart_matches_a_clean_run(
    emulator: Any, clean_run: tuple, tmp_path: Path
) -> None:
    path = tmp_path / "sigkill.duckdb"
    arguments = ["--endpoint", emulator.endpoint, "--db", str(path), "--account", CAL_ACCOUNT]
    arguments += ["--window-start", CAL_WINDOW[0].isoformat()]
    arguments += ["--window-end", CAL_WINDOW[1].isoformat(), "--page-size", "5"]
    killed_at = kill_after(
        "tests.emulators.calendar_sync_child", arguments, tmp_path / "progress.txt", 12
    )

    rows, _, cursor = checksum(path)
    assert cursor["phase"] == "full" and 0 < rows < 330

    with open_db(path) as con:  # restarted here: the cursor keeps the child's pages of 5
        resumed = sync_into(con, emulator)
    assert resumed.resumed and checksum(path)[:2] == clean_run[:2]
    assert killed_at + resumed.batches <= 67 + 1 + 1  # 67 pages of 5, one incremental pass
    assert resumed.batches < 67 + 1 - 10  # it resumed, it did not start over


def test_gcal_meetings_through_the_model(emulator: Any, tmp_path: Path) -> None:
    _, config = make_config(tmp_path, me={"addresses": [CAL_ACCOUNT]})
    weekly = series_id("weekly-1on1@keepwarm.test")
    calendar = emulator.calendars[CAL_ACCOUNT][CAL_ACCOUNT]
    calendar.cancel(f"{weekly}_20240212T090000Z")  # Ana's own: Google keeps its guests
    con = open_db(Path(config.warehouse.path))
    sync_into(con, emulator)
    rebuild_model(con, config)

    def meetings(where: str) -> dict[str, list]:
        rows = con.execute(
            f"""
            select interaction_key, list(address order by address), list(noise_reason)
            from core.interactions
            where channel = 'meeting' and {where}
            group by interaction_key
            """
        ).fetchall()
        return {key: (addresses, reasons) for key, addresses, reasons in rows}

    # Personal time: the weekly 1:1 with Bo on Jan 8 and Feb 5 (Bo tentative; Ana and a
    # room besides), and the lunch with Dev in person.
    one_on_ones = meetings("is_one_on_one and not is_noise")
    assert one_on_ones == {
        f"{weekly}_20240108T090000Z": (["bo.berg@example.org"], [None]),
        f"{weekly}_20240205T090000Z": (["bo.berg@example.org"], [None]),
        "lunch20240305": (["dev@example.net"], [None]),
    }
    in_person = con.execute(
        "select interaction_key from core.interactions where in_person and not is_noise"
    ).fetchall()
    assert in_person == [("lunch20240305",)]

    noise = meetings("is_noise")
    assert noise[f"{weekly}_20240115T090000Z"] == (
        ["bo.berg@example.org"],
        ["meeting: they declined"],
    )
    assert noise[f"{weekly}_20240212T090000Z"] == (
        ["bo.berg@example.org"],
        ["meeting: cancelled"],
    )
    # The Jan 29 instance was cancelled in the export without its guests: no one to count.
    assert f"{weekly}_20240129T090000Z" not in noise
    assert noise["declined20240306"] == (["cara@example.net"], ["meeting: declined by you"])
    allhands_addresses, allhands_reasons = noise["allhands20240307"]
    assert len(allhands_addresses) == 25  # the CEO and 24 colleagues; Ana is the user
    assert set(allhands_reasons) == {"meeting: more than 20 attendees"}
    offsite = noise[series_id("offsite-2024@keepwarm.test")]
    assert set(offsite[1]) == {"not a meeting: all-day event"}

    # No other person: the room booked alone, the webinar whose guests are hidden, and
    # the birthday, focus time, time off, working location and flight.
    silent = ["roomonly20240308", "webinar20240313", "focus20240311", "ooo20240318"]
    present = con.execute(
        "select count(*) from core.interactions where list_contains($keys, interaction_key)",
        {"keys": silent},
    ).fetchall()
    assert present == [(0,)]
    stored_types = dict(
        con.execute(
            "select event_type, count(*) from raw.events where event_type <> 'default' group by 1"
        ).fetchall()
    )
    assert stored_types == {
        "birthday": 1,
        "focusTime": 1,
        "outOfOffice": 1,
        "workingLocation": 1,
        "fromGmail": 1,
    }
    con.close()
