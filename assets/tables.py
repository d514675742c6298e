"""Running a model's SQL file and describing the table it built, for every SQL asset."""

from __future__ import annotations

from typing import Any

import duckdb
import polars as pl
from dagster import MetadataValue

from pipelines.warehouse import SQL_DIR, row_count, run_sql_file


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
