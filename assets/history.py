"""The model looking back: daily status snapshots, and the cold rule backtested on them.

Both need statuses as of a past moment. The marts are built by their SQL files with
`$as_of` bound, so a past status is the same SQL run with an earlier as-of inside a
transaction that is rolled back: one rule, no second implementation, and the current
marts are untouched.

Both are unpartitioned and part of every refresh: `marts/status_history` fills whichever
days it lacks (a year on the first run, the day just ended on later ones), so the nightly
run and the UI's *Materialize all* keep it whole without a backfill.
"""

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from assets.model import interactions, relationship_status
from assets.resources import Settings, WarehouseResource
from assets.tables import markdown_table
from engine.config import KeepwarmConfig
from engine.warehouse import (
    SQL_DIR,
    WRITER_TAGS,
    fetch_one,
    parameters_of,
    run_sql_file,
    sql_fingerprint,
    sql_statements,
)

HISTORY_GROUP = "history"
SUNDAY = 6  # date.weekday()
STATUS_HISTORY = AssetKey(["marts", "status_history"])
BACKTEST = AssetKey(["marts", "backtest"])
# The marts a status depends on, in build order.
_STATUS_TABLES = ("contact_summaries", "contact_metrics", "relationship_status")
# The head of a statement that builds a table from a query, up to the query.
_CREATE_AS = re.compile(r"^create or replace table [a-z_.]+ as\s*$", re.IGNORECASE | re.MULTILINE)
_SNAPSHOT_COLUMNS = (
    "person_id, status, last_contact_at, touchpoints, tie_strength, dunbar_layer, "
    "days_silent, usual_gap_days, silence_probability, attention_rank"
)


def statuses_as_of(
    con: duckdb.DuckDBPyConnection, params: dict[str, Any], as_of: datetime
) -> pa.Table:
    """marts.relationship_status as it would have been at `as_of`, leaving the marts as they are."""
    ((_, snapshot),) = statuses_over(con, params, [as_of])
    return snapshot


# A transaction keeps every version of the tables it replaces until it ends, so a chain of
# past statuses is cut after this many rows of one-row-per-person tables (about 0.8 KB a
# row across contact_metrics and relationship_status: some 400 MB) and begun afresh.
_CHAIN_PERSON_MOMENTS = 500_000


def statuses_over(
    con: duckdb.DuckDBPyConnection, params: dict[str, Any], moments: list[datetime]
) -> Iterator[tuple[datetime, pa.Table]]:
    """marts.relationship_status as it would have been at each of `moments` (oldest
    first), one at a time, leaving the marts as they are.

    The marts are built with each as-of time bound inside a transaction that is rolled
    back. Within one transaction the first moment rebuilds the summaries whole and each
    later one moves them forward as a night does (marts/contact_summaries.sql redoes only
    the people whose contact entered the history or crossed a window edge since the
    moment before), so a year of daily snapshots costs one pass over core.interactions,
    not one a day; the incremental build equals a whole one (tests/test_incremental.py).
    """
    if moments != sorted(moments):
        raise ValueError("statuses_over needs its moments oldest first")
    (people,) = fetch_one(con, "select count(*) from marts.contact_summaries")
    per_chain = max(1, _CHAIN_PERSON_MOMENTS // max(people, 1))
    # What does not depend on the moment is worked out once: each file's fingerprint, and
    # the status query with its parameters.
    builds = [(SQL_DIR / "marts" / f"{table}.sql") for table in _STATUS_TABLES[:-1]]
    fingerprints = {path: sql_fingerprint(path, params) for path in builds}
    status_path = SQL_DIR / "marts" / f"{_STATUS_TABLES[-1]}.sql"
    status_query = snapshot_query(status_path)
    status_params = {name: params.get(name) for name in parameters_of(status_path)}
    for start in range(0, len(moments), per_chain):
        con.begin()
        try:
            for n, as_of in enumerate(moments[start:start + per_chain]):
                for path in builds:
                    run_sql_file(con, path, {
                        **params, "as_of": as_of, "full_rebuild": n == 0,
                        "sql_fingerprint": fingerprints[path]}, comments=False)
                    if path.stem == "contact_summaries":
                        # Builds in one transaction share built_at (now() is when it
                        # began), so the one before is dropped: "the latest build" must
                        # be this moment's for the marts and for the next moment.
                        con.execute("delete from marts.contact_summary_builds "
                                    "where built_at = now() and as_of < $as_of",
                                    {"as_of": as_of})
                # marts.relationship_status is read by nothing later in the chain, so its
                # file's query is run for the snapshot's columns alone rather than built
                # into the table and read back: the reasons and next steps it words for
                # every tie are never computed (about a third of its cost a day).
                yield as_of, con.sql(status_query, params=status_params).to_arrow_table()
        finally:
            con.rollback()


def snapshot_query(path: Path) -> str:
    """The snapshot's columns of the query that `path` builds its table from.

    `path` must be one `create or replace table <name> as <query>` statement followed by
    COMMENT ON statements only; the query is taken as it stands, parameters and all, so a
    past status is the mart's own rule.
    """
    build, *rest = [_code(s) for s in sql_statements(path)]
    head, query = [*_CREATE_AS.split(build, maxsplit=1), ""][:2]
    if head.strip() or not query or not all(s.lower().startswith("comment on ") for s in rest):
        raise ValueError(f"{path.name} is not one `create or replace table ... as` query "
                         "followed by its COMMENT ON statements")
    return f"select {_SNAPSHOT_COLUMNS} from (\n{query}\n)"


def _code(statement: str) -> str:
    """`statement` without the comment lines it begins with."""
    lines = statement.splitlines()
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith("--")):
        lines.pop(0)
    return "\n".join(lines)


def end_of_day(day: date) -> datetime:
    """The as-of moment a daily snapshot describes: midnight UTC after `day`."""
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)


def snapshot_day(
    con: duckdb.DuckDBPyConnection, params: dict[str, Any], day: date
) -> int:
    """Replace marts.status_history's rows for `day`; return how many ties it holds."""
    return write_snapshot(con, day, statuses_as_of(con, params, end_of_day(day)))


# Days whose snapshots are written and committed together: a commit per day cost about as
# much as a tenth of the day's statuses, and a run stopped half-way loses at most these.
_DAYS_PER_COMMIT = 16


def snapshot_days(
    con: duckdb.DuckDBPyConnection, params: dict[str, Any], days: list[date]
) -> Iterator[date]:
    """Replace marts.status_history's rows for each of `days` (oldest first), yielding each
    day once its rows are committed.

    The statuses come from a second connection to the same file (`con.cursor()`), whose
    transactions are rolled back; the days' rows commit on `con` every `_DAYS_PER_COMMIT`
    days and at the end, so a run stopped half-way keeps the days it committed.
    """
    chain = con.cursor()
    pending: dict[date, pa.Table] = {}
    try:
        for as_of, snapshot in statuses_over(chain, params, [end_of_day(d) for d in days]):
            pending[as_of.date() - timedelta(days=1)] = snapshot
            if len(pending) >= _DAYS_PER_COMMIT:
                write_snapshots(con, pending)
                yield from pending
                pending = {}
        if pending:
            write_snapshots(con, pending)
            yield from pending
    finally:
        chain.close()


def write_snapshot(con: duckdb.DuckDBPyConnection, day: date, snapshot: pa.Table) -> int:
    """Replace marts.status_history's rows for `day` with `snapshot`; return its row count."""
    write_snapshots(con, {day: snapshot})
    return snapshot.num_rows


def write_snapshots(con: duckdb.DuckDBPyConnection, snapshots: dict[date, pa.Table]) -> None:
    """Replace marts.status_history's rows for each day of `snapshots` with its statuses,
    in one transaction."""
    stacked = pa.concat_tables(
        snapshot.append_column("snapshot_date", pa.array([day] * snapshot.num_rows, pa.date32()))
        for day, snapshot in snapshots.items()
    )
    con.register("status_snapshot", stacked)
    try:
        con.begin()
        try:
            run_sql_file(con, SQL_DIR / "history" / "status_history.sql",
                         {"snapshot_dates": list(snapshots)})
            con.commit()
        except BaseException:
            con.rollback()
            raise
    finally:
        con.unregister("status_snapshot")


def backtest_dates(as_of: datetime, cutoffs: int, step_days: float) -> list[datetime]:
    """Past as-of dates, `step_days` apart, newest first, the newest one step before `as_of`."""
    return [as_of - timedelta(days=step_days * k) for k in range(1, cutoffs + 1)]


def run_backtest(
    con: duckdb.DuckDBPyConnection, params: dict[str, Any], dates: list[datetime]
) -> None:
    """Build marts.backtest from the statuses as of each of `dates`."""
    frames = [
        pl.from_arrow(snapshot)
        .select("person_id", "status", "last_contact_at", "touchpoints", "usual_gap_days")
        .with_columns(as_of=pl.lit(moment).cast(pl.Datetime("us", "UTC")))
        for moment, snapshot in statuses_over(con, params, sorted(dates))
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


def missing_days(con: duckdb.DuckDBPyConnection, config: KeepwarmConfig) -> list[date]:
    """The days marts.status_history should hold and does not, oldest first.

    It should hold every day of the last `history.daily_days`, and every Sunday before
    them, from the first counted contact (before it there is no tie to snapshot),
    `history.start_date` or `history.look_back_days` back, whichever is latest, to the last
    full day before the as-of time.
    """
    last = last_full_day(config.as_of())
    first = last - timedelta(days=config.history.look_back_days - 1)
    if config.history.start_date:
        first = max(first, config.history.start_date)
    (first_contact,) = fetch_one(con, """
        select min(occurred_at at time zone 'UTC')::date from core.interactions
        where not is_noise and direction <> 'copied'""")
    if first_contact is None:
        return []
    first = max(first, first_contact)
    held: set[date] = set()
    if _has_status_history(con):
        held = {day for (day,) in con.execute(
            "select distinct snapshot_date from marts.status_history "
            "where snapshot_date between $first and $last", {"first": first, "last": last},
        ).fetchall()}
    daily_from = last - timedelta(days=config.history.daily_days - 1)
    wanted = (first + timedelta(days=n) for n in range((last - first).days + 1))
    return [day for day in wanted
            if day not in held and (day >= daily_from or day.weekday() == SUNDAY)]


def last_full_day(now: datetime | None = None) -> date:
    """The latest day a run at `now` has seen whole (UTC): yesterday."""
    return ((now or datetime.now(UTC)) - timedelta(days=1)).date()


@asset(
    key=STATUS_HISTORY,
    deps=[relationship_status.key],
    group_name=HISTORY_GROUP,
    kinds={"duckdb", "sql"},
    op_tags=WRITER_TAGS,
    description="Each tie's status and strength at the end of every day: trends over time. "
    "Each run snapshots the days missing, up to yesterday: daily for history.daily_days, "
    "weekly before that, history.look_back_days back.",
)
def status_history(
    context: AssetExecutionContext, settings: Settings, warehouse: WarehouseResource
) -> MaterializeResult:
    config = settings.load()
    params = config.model_params()
    with warehouse.connect() as con:
        days = missing_days(con, config)
        if len(days) > 1:
            context.log.info(f"snapshotting {len(days)} days, {days[0]} to {days[-1]}")
        for n, day in enumerate(snapshot_days(con, params, days), start=1):
            if n % 50 == 0:
                context.log.info(f"snapshot {n} of {len(days)} days: {day}")
        metadata = _describe_status_history(con, days)
    return MaterializeResult(metadata=metadata)


def _describe_status_history(con: duckdb.DuckDBPyConnection, filled: list[date]
                             ) -> dict[str, Any]:
    rows, held, first, last = fetch_one(con, """
        select count(*), count(distinct snapshot_date), min(snapshot_date), max(snapshot_date)
        from marts.status_history""") if _has_status_history(con) else (0, 0, None, None)
    counts = dict(con.execute(
        "select status, count(*) from marts.status_history where snapshot_date = $day "
        "group by 1", {"day": last}).fetchall()) if last else {}
    return {
        "dagster/row_count": MetadataValue.int(rows),
        "days_filled_this_run": MetadataValue.int(len(filled)),
        "days_held": MetadataValue.int(held),
        "first_day": MetadataValue.text(first.isoformat() if first else "none"),
        "last_day": MetadataValue.text(last.isoformat() if last else "none"),
        **{f"last_day/{s}": MetadataValue.int(n) for s, n in sorted(counts.items())},
    }


def _has_status_history(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(fetch_one(con, "select count(*) from duckdb_tables() "
                               "where schema_name = 'marts' and table_name = 'status_history'")[0])


def _describe_backtest(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    flagged, lapsed, hits = fetch_one(con, """
        select coalesce(sum(flagged_cold), 0), coalesce(sum(lapsed), 0),
               coalesce(sum(flagged_and_lapsed), 0)
        from marts.backtest""")
    # The month is formatted in Python: an alias that shadows the column it formats would
    # be ambiguous in `order by`.
    per_month = con.sql("select month, silences, flagged_cold, lapsed, flagged_and_lapsed, "
                        "precision, recall from marts.backtest order by month").pl()
    per_month = per_month.with_columns(pl.col("month").dt.strftime("%Y-%m"))
    return {
        "precision": MetadataValue.float(round(hits / flagged, 4) if flagged else float("nan")),
        "recall": MetadataValue.float(round(hits / lapsed, 4) if lapsed else float("nan")),
        "flagged_cold": MetadataValue.int(flagged),
        "lapsed": MetadataValue.int(lapsed),
        "months": MetadataValue.int(per_month.height),
        "per_month": MetadataValue.md(markdown_table(per_month)),
    }


@asset(
    key=BACKTEST,
    deps=[relationship_status.key, interactions.key],
    group_name=HISTORY_GROUP,
    kinds={"duckdb", "sql"},
    op_tags=WRITER_TAGS,
    description="The cold rule judged on your own history: precision and recall of past flags.",
)
def backtest(
    context: AssetExecutionContext, settings: Settings, warehouse: WarehouseResource
) -> MaterializeResult:
    config = settings.load()
    dates = backtest_dates(config.as_of(), config.backtest.cutoffs, config.backtest.step_days)
    with warehouse.connect() as con:
        run_backtest(con, config.model_params(), dates)
        metadata = _describe_backtest(con)
    context.log.info(f"backtest over {len(dates)} dates: precision {metadata['precision'].value}, "
                     f"recall {metadata['recall'].value}")
    return MaterializeResult(metadata=metadata)
