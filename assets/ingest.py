"""The ingest layer: every configured source, loaded batch by batch into raw.*."""


from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

import duckdb
import polars as pl
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from connectors.demo import read_demo, simulate
from connectors.google import (
    STREAM as GMAIL_STREAM,
)
from connectors.google import (
    QuotaLimiter,
    SyncReport,
    build_gmail_service,
    delegated_credentials,
    load_credentials,
    sync_gmail,
)
from connectors.records import Batch
from connectors.takeout import ReadStats, read_ics, read_mail_paths
from connectors.takeout.files import expand_paths
from pipelines.config import KeepwarmConfig
from pipelines.resources import Settings, Warehouse
from pipelines.warehouse import apply_batch, load_cursor, load_cursors, message_keys, row_count

INGEST_GROUP = "ingest"
RAW_MESSAGES = AssetKey(["raw", "messages"])
RAW_EVENTS = AssetKey(["raw", "events"])
RAW_QUARANTINE = AssetKey(["raw", "quarantine"])


def _demo_batches(config: KeepwarmConfig, con: duckdb.DuckDBPyConnection) -> Iterator[Batch]:
    demo = config.sources.demo
    network = simulate(seed=demo.seed, end=demo.end, months=demo.months, scale=demo.scale,
                       profile=demo.profile)
    account = network.user_addresses[0]
    truth = pl.DataFrame([asdict(row) for row in network.truth])
    con.execute("delete from raw.demo_truth where account = $account", {"account": account})
    con.register("incoming_truth", truth.to_arrow())
    con.execute("insert into raw.demo_truth by name select * from incoming_truth")
    con.unregister("incoming_truth")
    yield from read_demo(network)


def _file_batches(
    config: KeepwarmConfig, con: duckdb.DuckDBPyConnection, stats: ReadStats
) -> Iterator[Batch]:
    files = config.sources.files
    if files.mail:
        cursors = load_cursors(con, files.account, ("mbox", "maildir"))
        yield from read_mail_paths(files.mail, files.account, cursors,
                                   include_subject=config.store_subjects, stats=stats)
    if files.calendars:
        # Whole months, so that the window (and with it the expansion) changes monthly,
        # not daily, and an unchanged file stays a cheap check.
        today = datetime.now(UTC).date()
        window_start = (today - timedelta(days=files.past_days)).replace(day=1)
        window_end = (today + timedelta(days=files.future_days + 31)).replace(day=1)
        cursors = load_cursors(con, files.account, ("ics",))
        seen: set[str] = set()
        for path in expand_paths(files.calendars):
            yield from read_ics(
                path, files.account, window_start=window_start, window_end=window_end,
                cursor=cursors.get(str(path.resolve())), include_summary=config.store_subjects,
                stats=stats, seen=seen,
            )


def _gmail_batches(
    config: KeepwarmConfig, con: duckdb.DuckDBPyConnection, reports: list[SyncReport]
) -> Iterator[Batch]:
    gmail = config.sources.gmail
    for account in gmail.accounts:
        if account.service_account_key:
            credentials = delegated_credentials(account.service_account_key, account.address)
        else:
            credentials = load_credentials(account.token_path(), account=account.address)
        report = SyncReport(account=account.address)
        reports.append(report)
        yield from sync_gmail(
            build_gmail_service(credentials, gmail.api_endpoint),
            account.address,
            load_cursor(con, account.address, "gmail", GMAIL_STREAM),
            limiter=QuotaLimiter.for_ceiling(gmail.units_per_minute),
            include_subject=config.store_subjects,
            # A resync after expired history upserts, then prunes what Gmail no longer has,
            # so the table is never emptier than before if the run dies half-way.
            known_message_keys=lambda address=account.address: message_keys(
                con, address, "gmail"),
            report=report,
        )


def _batches(
    config: KeepwarmConfig, con: duckdb.DuckDBPyConnection, stats: ReadStats,
    reports: list[SyncReport],
) -> Iterator[Batch]:
    if config.sources.demo is not None:
        yield from _demo_batches(config, con)
    if config.sources.files is not None:
        yield from _file_batches(config, con, stats)
    if config.sources.gmail is not None:
        yield from _gmail_batches(config, con, reports)


@multi_asset(
    specs=[
        AssetSpec(
            RAW_MESSAGES,
            description="Email metadata from every configured source (headers only).",
            group_name=INGEST_GROUP,
            kinds={"duckdb", "python"},
        ),
        AssetSpec(
            RAW_EVENTS,
            description="Calendar event instances from every configured source.",
            group_name=INGEST_GROUP,
            kinds={"duckdb", "python"},
        ),
        AssetSpec(
            RAW_QUARANTINE,
            description="Inputs that could not be parsed, with the reason.",
            group_name=INGEST_GROUP,
            kinds={"duckdb"},
        ),
    ],
)
def raw_sources(context: AssetExecutionContext, settings: Settings, warehouse: Warehouse):
    """Sync every source in keepwarm.yaml; each batch lands with its cursor atomically."""
    config = settings.load()
    loaded = {"messages": 0, "events": 0, "quarantined": 0}
    stats = ReadStats()
    reports: list[SyncReport] = []
    with warehouse.connect() as con:
        for batch in _batches(config, con, stats, reports):
            apply_batch(con, batch)
            loaded["messages"] += len(batch.messages)
            loaded["events"] += len(batch.events)
            loaded["quarantined"] += len(batch.quarantine)
        counts = {
            table: row_count(con, f"raw.{table}")
            for table in ("messages", "events", "quarantine")
        }
    context.log.info(f"loaded {loaded}; files: {stats}")
    yield MaterializeResult(
        asset_key=RAW_MESSAGES,
        metadata={
            "dagster/row_count": counts["messages"],
            "loaded_this_run": loaded["messages"],
            "files_unchanged": stats.skipped_unchanged,
            "duplicates_skipped": stats.duplicates,
            **{
                f"gmail/{report.account}": MetadataValue.json(report.as_metadata())
                for report in reports
            },
        },
    )
    yield MaterializeResult(
        asset_key=RAW_EVENTS,
        metadata={"dagster/row_count": counts["events"], "loaded_this_run": loaded["events"]},
    )
    yield MaterializeResult(
        asset_key=RAW_QUARANTINE,
        metadata={
            "dagster/row_count": counts["quarantine"],
            "quarantined_this_run": loaded["quarantined"],
        },
    )
