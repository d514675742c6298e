"""The model looking back: daily status snapshots, and the cold rule backtested on them.

Both need statuses as of a past moment. The marts are built by their SQL files with
`$as_of` bound, so a past status is the same SQL run with an earlier as-of inside a
transaction that is rolled back: one rule, no second implementation, and the current
marts are untouched.
"""

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
from dagster import (
    AssetExecutionContext,
    DagsterRunStatus,
    DailyPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    RunStatusSensorContext,
    asset,
    define_asset_job,
    run_status_sensor,
)

from assets.model import interactions, relationship_status
from assets.tables import markdown_table
from pipelines.resources import Settings, Warehouse
from pipelines.serving import publish_serving_copy
from pipelines.warehouse import SQL_DIR, WRITER_TAGS, fetch_one, run_sql_file, sql_fingerprint

HISTORY_GROUP = "history"
HISTORY_JOB_NAME = "snapshot_history"
# The marts a status depends on, in build order.
_STATUS_TABLES = ("contact_summaries", "contact_metrics", "relationship_status")
_SNAPSHOT_COLUMNS = (
    "person_id, status, last_contact_at, touchpoints, tie_strength, dunbar_layer, "
    "days_silent, usual_gap_days, silence_probability, attention_rank"
)


def statuses_as_of(
    con: duckdb.DuckDBPyConnection, params: dict[str, Any], as_of: datetime
) -> pa.Table:
    """marts.relationship_status as it would have been at `as_of`, leaving the marts as they are."""
    con.begin()
    try:
        for table in _STATUS_TABLES:
            path = SQL_DIR / "marts" / f"{table}.sql"
            # Whole: the incremental summaries move forward from their last as-of, not back.
            run_sql_file(con, path, {**params, "as_of": as_of, "full_rebuild": True,
                                     "sql_fingerprint": sql_fingerprint(path, params)})
        query = f"select {_SNAPSHOT_COLUMNS} from marts.relationship_status"
        return con.sql(query).to_arrow_table()
    finally:
        con.rollback()


def end_of_day(day: date) -> datetime:
    """The as-of moment a daily snapshot describes: midnight UTC after `day`."""
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)


def snapshot_day(
    con: duckdb.DuckDBPyConnection, params: dict[str, Any], day: date
) -> int:
    """Replace marts.status_history's rows for `day`; return how many ties it holds."""
    snapshot = statuses_as_of(con, params, end_of_day(day))
    con.register("status_snapshot", snapshot)
    try:
        con.begin()
        try:
            run_sql_file(con, SQL_DIR / "history" / "status_history.sql",
                         {"snapshot_date": day})
            con.commit()
        except BaseException:
            con.rollback()
            raise
    finally:
        con.unregister("status_snapshot")
    return snapshot.num_rows


def backtest_dates(as_of: datetime, cutoffs: int, step_days: float) -> list[datetime]:
    """Past as-of dates, `step_days` apart, newest first, the newest one step before `as_of`."""
    return [as_of - timedelta(days=step_days * k) for k in range(1, cutoffs + 1)]


def run_backtest(
    con: duckdb.DuckDBPyConnection, params: dict[str, Any], dates: list[datetime]
) -> None:
    """Build marts.backtest from the statuses as of each of `dates`."""
    frames = [
        pl.from_arrow(statuses_as_of(con, params, moment))
        .select("person_id", "status", "last_contact_at", "touchpoints", "usual_gap_days")
        .with_columns(as_of=pl.lit(moment).cast(pl.Datetime("us", "UTC")))
        for moment in dates
    ]
    snapshots = pl.concat(frames) if frames else pl.DataFrame(
        schema={"person_id": pl.String, "status": pl.String,
                "last_contact_at": pl.Datetime("us", "UTC"), "touchpoints": pl.Int64,
                "usual_gap_days": pl.Float64,
                "as_of": pl.Datetime("us", "UTC")})
    con.register("status_snapshots", snapshots.to_arrow())
    try:
        con.begin()
        try:
            run_sql_file(con, SQL_DIR / "history" / "backtest.sql", params)
            con.commit()
        except BaseException:
            con.rollback()
            raise
    finally:
        con.unregister("status_snapshots")


def history_assets(start_date: date):
    """The daily-partitioned status_history asset, its job, and the sensor that runs it
    for the day just ended whenever the nightly refresh succeeds."""
    daily = DailyPartitionsDefinition(start_date=start_date.isoformat(), timezone="UTC")

    @asset(
        key=["marts", "status_history"],
        deps=[relationship_status.key],
        partitions_def=daily,
        group_name=HISTORY_GROUP,
        kinds={"duckdb", "sql"},
        op_tags=WRITER_TAGS,
        description="Each tie's status and strength at the end of every day: trends over time.",
    )
    def status_history(
        context: AssetExecutionContext, settings: Settings, warehouse: Warehouse
    ) -> MaterializeResult:
        day = date.fromisoformat(context.partition_key)
        with warehouse.connect() as con:
            ties = snapshot_day(con, settings.load().model_params(), day)
            counts = dict(con.execute(
                "select status, count(*) from marts.status_history "
                "where snapshot_date = $day group by 1", {"day": day}).fetchall())
            # The refresh published its copy before this ran: publish again so readers
            # see the new day.
            publish_serving_copy(con, warehouse.serving_file())
        return MaterializeResult(metadata={
            "ties": MetadataValue.int(ties),
            **{f"status/{s}": MetadataValue.int(n) for s, n in sorted(counts.items())},
        })

    history_job = define_asset_job(
        HISTORY_JOB_NAME,
        selection=[status_history.key],
        description="Snapshot every tie's status for one day (backfill for past days).",
    )
    return status_history, history_job, daily


def last_full_day(now: datetime | None = None) -> date:
    """The latest day a run at `now` has seen whole (UTC): yesterday."""
    return ((now or datetime.now(UTC)) - timedelta(days=1)).date()


def nightly_snapshot_sensor(refresh_job, history_job, daily: DailyPartitionsDefinition):
    """After each successful refresh, snapshot the day that has just ended."""

    @run_status_sensor(
        name="snapshot_after_refresh",
        run_status=DagsterRunStatus.SUCCESS,
        monitored_jobs=[refresh_job],
        request_job=history_job,
        description="When the refresh succeeds, fill marts.status_history for the last full day.",
    )
    def snapshot_after_refresh(context: RunStatusSensorContext):
        # The sensor wakes within seconds of the run's end.
        day = last_full_day().isoformat()
        if day < daily.start.date().isoformat():
            return None
        return RunRequest(run_key=f"{context.dagster_run.run_id}:{day}", partition_key=day)

    return snapshot_after_refresh


def _describe_backtest(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    flagged, lapsed, hits = fetch_one(con, """
        select coalesce(sum(flagged_cold), 0), coalesce(sum(lapsed), 0),
               coalesce(sum(flagged_and_lapsed), 0)
        from marts.backtest""")
    per_date = con.sql("select strftime(as_of, '%Y-%m-%d') as as_of, ties_judged, "
                       "flagged_cold, lapsed, flagged_and_lapsed, precision, recall "
                       "from marts.backtest order by as_of").pl()
    return {
        "precision": MetadataValue.float(round(hits / flagged, 4) if flagged else float("nan")),
        "recall": MetadataValue.float(round(hits / lapsed, 4) if lapsed else float("nan")),
        "flagged_cold": MetadataValue.int(flagged),
        "lapsed": MetadataValue.int(lapsed),
        "per_date": MetadataValue.md(markdown_table(per_date)),
    }


@asset(
    key=["marts", "backtest"],
    deps=[relationship_status.key, interactions.key],
    group_name=HISTORY_GROUP,
    kinds={"duckdb", "sql"},
    op_tags=WRITER_TAGS,
    description="The cold rule judged on your own history: precision and recall of past flags.",
)
def backtest(
    context: AssetExecutionContext, settings: Settings, warehouse: Warehouse
) -> MaterializeResult:
    config = settings.load()
    dates = backtest_dates(config.as_of(), config.backtest.cutoffs, config.backtest.step_days)
    with warehouse.connect() as con:
        run_backtest(con, config.model_params(), dates)
        metadata = _describe_backtest(con)
        publish_serving_copy(con, warehouse.serving_file())
    context.log.info(f"backtest over {len(dates)} dates: precision {metadata['precision'].value}, "
                     f"recall {metadata['recall'].value}")
    return MaterializeResult(metadata=metadata)
