"""Running a model's SQL files: one table for an asset, or the whole model without Dagster
(for tests, benchmarks and scripts), and describing what was built."""

from __future__ import annotations

from typing import Any

import duckdb
import polars as pl
from dagster import MetadataValue

from pipelines.config import KeepwarmConfig
from pipelines.warehouse import SQL_DIR, row_count, run_sql_file

# The order the asset graph builds them in (see assets/model.py).
MODEL_TABLES = [
    ("core", "identities"),
    ("core", "people"),
    ("core", "interactions"),
    ("marts", "contact_metrics"),
    ("marts", "relationship_status"),
    ("marts", "network_summary"),
    ("marts", "open_loops"),
    ("marts", "introductions"),
]


def build_table(
    con: duckdb.DuckDBPyConnection, schema: str, table: str, params: dict[str, Any]
) -> dict[str, Any]:
    """Rebuild `schema.table` from its SQL file in one transaction; return run metadata."""
    con.begin()
    try:
        run_sql_file(con, SQL_DIR / schema / f"{table}.sql", params)
        con.commit()
    except BaseException:
        con.rollback()
        raise
    rows = row_count(con, f"{schema}.{table}")
    return {"dagster/row_count": MetadataValue.int(rows)}


def rebuild_model(con: duckdb.DuckDBPyConnection, config: KeepwarmConfig) -> None:
    """Build core.* and marts.* from raw.* exactly as the assets do, without Dagster."""
    params = config.model_params()
    for schema, table in MODEL_TABLES:
        build_table(con, schema, table, params)


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
