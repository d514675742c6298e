"""Sync one Gmail mailbox from the emulator into a DuckDB file, as a separate process.

Used by the end-to-end tests to kill a real sync with SIGKILL at an arbitrary point and
restart it. Prints one line to --progress after each batch is committed.

    python -m tests.emulators.gmail_sync_child --endpoint URL --db FILE --account ADDR
"""

from __future__ import annotations

import argparse
import sys

import duckdb
from google.oauth2.credentials import Credentials

from connectors.google import QuotaLimiter, SyncReport, build_gmail_service, sync_gmail
from pipelines.warehouse import apply_batch, ensure_schema, load_cursor


def known_keys(con: duckdb.DuckDBPyConnection, account: str) -> list[str]:
    rows = con.execute(
        "select message_key from raw.messages where account = $a and source = 'gmail'",
        {"a": account},
    ).fetchall()
    return [r[0] for r in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--account", required=True)
    parser.add_argument("--token", default="test-token")
    parser.add_argument("--progress")
    parser.add_argument("--max-batch", type=int, default=50)
    args = parser.parse_args(argv)

    con = duckdb.connect(args.db)
    ensure_schema(con)
    service = build_gmail_service(Credentials(token=args.token), args.endpoint)
    report = SyncReport(account=args.account)
    batches = sync_gmail(
        service,
        args.account,
        load_cursor(con, args.account, "gmail", "history"),
        limiter=QuotaLimiter.for_ceiling(10**9),
        known_message_keys=lambda: known_keys(con, args.account),
        max_batch=args.max_batch,
        report=report,
    )
    progress = open(args.progress, "a", buffering=1) if args.progress else None  # noqa: SIM115
    for batch in batches:
        apply_batch(con, batch)
        if progress:
            progress.write(f"{len(batch.messages)}\n")
    con.close()
    print(report.mode, report.messages, report.quota_units, file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
