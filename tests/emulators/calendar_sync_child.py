"""Sync one calendar from the emulator into a DuckDB file, as a separate process.

Used by the end-to-end tests to kill a real sync with SIGKILL at an arbitrary point and
restart it. Prints one line to --progress after each batch is committed.

    python -m tests.emulators.calendar_sync_child --endpoint URL --db FILE --account ADDR \
        --calendar primary --window-start ISO --window-end ISO
"""

from __future__ import annotations

import sys
from datetime import datetime

import duckdb
from google.oauth2.credentials import Credentials

from connectors.google import (
    CalendarSyncReport,
    QuotaLimiter,
    build_calendar_service,
    sync_calendar,
)
from engine.warehouse import load_cursor
from tests.emulators.sync_child import child_arguments, commit_each, open_warehouse


def known_events(con: duckdb.DuckDBPyConnection, account: str, calendar_id: str) -> list[tuple]:
    """What `sync_calendar(known_events=...)` wants, read from raw.events."""
    return con.execute(
        "select event_key, start_at, end_at from raw.events "
        "where account = $a and source = 'gcal' and calendar_id = $c",
        {"a": account, "c": calendar_id},
    ).fetchall()


def main(argv: list[str] | None = None) -> int:
    parser = child_arguments()
    parser.add_argument("--calendar", default="primary")
    parser.add_argument("--window-start", required=True, type=datetime.fromisoformat)
    parser.add_argument("--window-end", required=True, type=datetime.fromisoformat)
    parser.add_argument("--page-size", type=int, default=2500)
    args = parser.parse_args(argv)

    con = open_warehouse(args.db)
    report = CalendarSyncReport(args.account, args.calendar)
    batches = sync_calendar(
        build_calendar_service(Credentials(token=args.token), args.endpoint),
        args.account,
        args.calendar,
        load_cursor(con, args.account, "gcal", args.calendar),
        limiter=QuotaLimiter.for_ceiling(10**9),
        window_start=args.window_start,
        window_end=args.window_end,
        known_events=lambda: known_events(con, args.account, args.calendar),
        page_size=args.page_size,
        report=report,
    )
    commit_each(con, batches, args.progress)
    con.close()
    print(report.mode, report.events, report.quota_units, file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
