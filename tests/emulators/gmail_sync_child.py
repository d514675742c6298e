"""Sync one Gmail mailbox from the emulator into a DuckDB file, as a separate process.

Used by the end-to-end tests to kill a real sync with SIGKILL at an arbitrary point and
restart it. Prints one line to --progress after each batch is committed.

    python -m tests.emulators.gmail_sync_child --endpoint URL --db FILE --account ADDR
"""

from __future__ import annotations

import sys

import duckdb
from google.oauth2.credentials import Credentials

from connectors.google import QuotaLimiter, SyncReport, build_gmail_service, sync_gmail
from engine.warehouse import load_cursor
from tests.emulators.sync_child import child_arguments, commit_each, open_warehouse


def known_keys(con: duckdb.DuckDBPyConnection, account: str) -> list[str]:
    rows = con.execute(
        "select message_key from raw.messages where account = $a and source = 'gmail'",
        {"a": account},
    ).fetchall()
    return [r[0] for r in rows]


def main(argv: list[str] | None = None) -> int:
    parser = child_arguments()
    parser.add_argument("--max-batch", type=int, default=50)
    args = parser.parse_args(argv)

    con = open_warehouse(args.db)
    report = SyncReport(account=args.account)
    batches = sync_gmail(
        build_gmail_service(Credentials(token=args.token), args.endpoint),
        args.account,
        load_cursor(con, args.account, "gmail", "history"),
        limiter=QuotaLimiter.for_ceiling(10**9),
        known_message_keys=lambda: known_keys(con, args.account),
        max_batch=args.max_batch,
        report=report,
    )
    commit_each(con, batches, args.progress)
    con.close()
    print(report.mode, report.messages, report.quota_units, file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
