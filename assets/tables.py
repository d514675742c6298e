"""Running a model's SQL files: one table for an asset, or the whole model without Dagster
(for tests, benchmarks and scripts), and describing what was built."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
from dagster import MetadataValue

from engine.config import KeepwarmConfig
from engine.warehouse import SQL_DIR, row_count, run_sql_file, sql_fingerprint

log = logging.getLogger(__name__)

# The order the asset graph builds them in (see assets/model.py).
MODEL_TABLES = [
    ("core", "contacts"),
    ("core", "identities"),
    ("core", "contact_people"),
    ("core", "people"),
    ("core", "actions"),
    ("core", "interactions"),
    ("marts", "contact_summaries"),
    ("marts", "contact_metrics"),
    ("marts", "job_changes"),
    ("marts", "relationship_status"),
    ("marts", "network_summary"),
    ("marts", "open_loops"),
    ("marts", "introductions"),
    ("marts", "key_dates"),
]
# Tables an incremental build keeps beside its own, written by the same SQL file.
BOOKKEEPING_TABLES = [
    ("core", "interaction_sources"),
    ("core", "interaction_identities"),
    ("core", "interaction_builds"),
    ("core", "interaction_changes"),
    ("core", "interaction_ignores"),
    ("marts", "contact_summary_builds"),
]


def build_table(
    con: duckdb.DuckDBPyConnection, schema: str, table: str, params: dict[str, Any],
    *, full: bool = False, memory_cap: str | None = None,
) -> dict[str, Any]:
    """Build `schema.table` from its SQL file in one transaction; return run metadata.

    Most files rebuild their table whole. An incremental one (core.interactions,
    marts.contact_summaries) gets its own fingerprint and `full` to decide whether the
    changes since its last build will do.

    `memory_cap` is the memory_limit `con` was opened with (`warehouse.memory_limit`): the
    footprint aimed for, not a reason to lose a night. A build that does not fit under it
    (DuckDB cannot spill every operator) is rolled back and run once more without the cap,
    with a warning naming the setting to raise; then the cap is set again.
    """
    path = SQL_DIR / schema / f"{table}.sql"
    params = {**params, "sql_fingerprint": sql_fingerprint(path, params), "full_rebuild": full}
    metadata: dict[str, Any] = {}
    try:
        _run_in_transaction(con, path, params)
    except duckdb.OutOfMemoryException as exc:
        if memory_cap is None:
            raise
        log.warning("building %s.%s needs more memory than warehouse.memory_limit allows "
                    "(%s): built again without the cap; raise the setting to keep the "
                    "footprint predictable. DuckDB said: %s",
                    schema, table, memory_cap, str(exc).splitlines()[0])
        con.execute("reset memory_limit")
        try:
            _run_in_transaction(con, path, params)
        finally:
            con.execute("set memory_limit = ?", [memory_cap])
        metadata["memory_cap_exceeded"] = MetadataValue.text(
            f"built without warehouse.memory_limit ({memory_cap}): raise it")
    rows = row_count(con, f"{schema}.{table}")
    return {"dagster/row_count": MetadataValue.int(rows), **metadata}


def _run_in_transaction(con: duckdb.DuckDBPyConnection, path: Path, params: dict[str, Any]) -> None:
    # Rows go into a table in whatever order they come out: keeping the order of a big
    # insert's input makes DuckDB buffer it whole, which is what ran a 3M-message
    # core.interactions out of a cap it otherwise fits in. No file relies on row order.
    con.execute("set preserve_insertion_order = false")
    con.begin()
    try:
        run_sql_file(con, path, params)
        con.commit()
    except BaseException:
        con.rollback()
        raise
    finally:
        con.execute("reset preserve_insertion_order")


def rebuild_model(
    con: duckdb.DuckDBPyConnection, config: KeepwarmConfig, *, full: bool = False
) -> None:
    """Build core.* and marts.* from raw.* exactly as the assets do, without Dagster.

    `full` rebuilds incremental tables whole as well, as a first build would.
    """
    params = config.model_params()
    for schema, table in MODEL_TABLES:
        build_table(con, schema, table, params, full=full)


def markdown_table(frame: pl.DataFrame) -> str:
    """A polars frame as a GitHub-flavoured markdown table for the UI."""
    if frame.is_empty():
        return "_(none)_"
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    lines = [
        "| " + " | ".join("" if v is None else str(v).replace("|", "/") for v in row) + " |"
        for row in frame.iter_rows()
    ]
    return "\n".join([header, rule, *lines])
