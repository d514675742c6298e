"""The DuckDB warehouse: opening it, laying down its schema, loading batches, running SQL files.

Every write path goes through here so that the guarantees hold everywhere: a connector's
batch and its cursor land in one transaction (a run killed at any point resumes without
loss or duplicates), rows are upserted by natural key, and SQL files get their values as
bound parameters.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
from dagster import ConfigurableResource

from connectors.records import Batch, events_frame, messages_frame, quarantine_frame

SQL_DIR = Path(__file__).resolve().parent.parent / "assets" / "sql"
RAW_TABLES = ("messages", "events", "quarantine", "sync_state", "demo_truth")

_PARAMETER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
# Statements end at a semicolon that closes a line; comment texts never contain one.
_STATEMENT_END = re.compile(r";\s*(?:--[^\n]*)?\n")


def sql_statements(path: Path) -> list[str]:
    """The statements of a SQL file, in order."""
    text = path.read_text(encoding="utf-8") + "\n"
    return [s.strip() for s in _STATEMENT_END.split(text) if _has_code(s)]


def _has_code(statement: str) -> bool:
    return any(
        line.strip() and not line.strip().startswith("--") for line in statement.splitlines()
    )


def run_sql_file(
    con: duckdb.DuckDBPyConnection, path: Path, params: Mapping[str, Any] | None = None
) -> None:
    """Execute every statement of `path`, binding each `$name` it uses from `params`."""
    params = params or {}
    for statement in sql_statements(path):
        names = set(_PARAMETER.findall(statement))
        missing = names - params.keys()
        if missing:
            raise KeyError(f"{path.name} needs parameters {sorted(missing)}")
        con.execute(statement, {name: params[name] for name in names} or None)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the schemas, shared macros and raw tables if they are not there yet."""
    run_sql_file(con, SQL_DIR / "schemas.sql")
    for table in RAW_TABLES:
        run_sql_file(con, SQL_DIR / "raw" / f"{table}.sql")


def apply_batch(con: duckdb.DuckDBPyConnection, batch: Batch) -> None:
    """Load one connector batch and its cursor atomically.

    Messages and events replace any earlier row with the same natural key, so replaying a
    batch after a crash changes nothing; deletions and the cursor commit with the rows.
    """
    con.begin()
    try:
        if batch.replace_account_source:
            account, source = batch.replace_account_source
            for table in ("messages", "events"):
                con.execute(
                    f"delete from raw.{table} where account = $account and source = $source",
                    {"account": account, "source": source},
                )
        if batch.messages:
            _upsert(con, "messages", messages_frame(batch.messages), ("account", "message_key"))
        if batch.events:
            _upsert(
                con, "events", events_frame(batch.events), ("account", "calendar_id", "event_key")
            )
        if batch.deleted_message_keys:
            _delete_keys(con, "messages", ("account", "message_key"), batch.deleted_message_keys)
        if batch.deleted_event_keys:
            _delete_keys(
                con, "events", ("account", "calendar_id", "event_key"), batch.deleted_event_keys
            )
        if batch.quarantine:
            con.register("incoming_quarantine", quarantine_frame(batch.quarantine).to_arrow())
            con.execute(
                """
                insert into raw.quarantine by name
                select distinct on (source, account, locator) *
                from incoming_quarantine q
                where not exists (
                    select 1 from raw.quarantine r
                    where r.source = q.source and r.account = q.account and r.locator = q.locator
                )
                """
            )
            con.unregister("incoming_quarantine")
        if batch.cursor:
            save_cursor(
                con,
                batch.cursor.account,
                batch.cursor.source,
                batch.cursor.stream,
                batch.cursor.value,
            )
        con.commit()
    except BaseException:
        con.rollback()
        raise


def _upsert(con: duckdb.DuckDBPyConnection, table: str, frame: Any, key: tuple[str, ...]) -> None:
    view = f"incoming_{table}"
    con.register(view, frame.to_arrow())
    match = " and ".join(f"t.{k} = i.{k}" for k in key)
    keys = ", ".join(key)
    try:
        con.execute(f"delete from raw.{table} t using {view} i where {match}")
        # A source may repeat a record inside one batch; the last one wins.
        con.execute(
            f"""
            insert into raw.{table} by name
            select * exclude (_position) from (
                select *, row_number() over () as _position from {view}
            )
            qualify row_number() over (partition by {keys} order by _position desc) = 1
            """
        )
    finally:
        con.unregister(view)


def _delete_keys(
    con: duckdb.DuckDBPyConnection, table: str, key: tuple[str, ...], rows: list[tuple]
) -> None:
    view = f"gone_{table}"
    con.register(view, pl.DataFrame(rows, schema=list(key), orient="row").to_arrow())
    match = " and ".join(f"t.{k} = g.{k}" for k in key)
    try:
        con.execute(f"delete from raw.{table} t using {view} g where {match}")
    finally:
        con.unregister(view)


def save_cursor(
    con: duckdb.DuckDBPyConnection, account: str, source: str, stream: str, value: dict
) -> None:
    """Record where a stream stopped (call inside the transaction that wrote its rows)."""
    key = {"account": account, "source": source, "stream": stream}
    con.execute(
        "delete from raw.sync_state "
        "where account = $account and source = $source and stream = $stream",
        key,
    )
    con.execute(
        "insert into raw.sync_state (account, source, stream, cursor) "
        "values ($account, $source, $stream, $cursor)",
        {**key, "cursor": json.dumps(value, sort_keys=True)},
    )


def load_cursor(
    con: duckdb.DuckDBPyConnection, account: str, source: str, stream: str
) -> dict | None:
    """The stored position of a stream, or None when it has never been synced."""
    row = fetch_one(
        con,
        "select cursor from raw.sync_state "
        "where account = $account and source = $source and stream = $stream",
        {"account": account, "source": source, "stream": stream},
    )
    return json.loads(row[0]) if row else None


def fetch_one(
    con: duckdb.DuckDBPyConnection, query: str, params: Mapping[str, Any] | None = None
) -> tuple | None:
    """The first row of a query, with the result fully consumed.

    DuckDB 2 keeps a half-read result open on the connection and refuses other work
    until it is finished, so single-row reads go through fetchall.
    """
    rows = con.execute(query, params).fetchall()
    return rows[0] if rows else None


def row_count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    """Rows in a table named `schema.table` (a name from this codebase, never user input)."""
    return fetch_one(con, f"select count(*) from {table}")[0]


class WarehouseLockedError(RuntimeError):
    """Another process holds the DuckDB file for writing."""


class Warehouse(ConfigurableResource):
    """The DuckDB file the pipeline writes and users query.

    DuckDB lets one process at a time open a file for writing, so connections are short:
    each asset opens, writes and closes. If another process (a user's SQL shell, say)
    holds the file, opening is retried for `lock_timeout_s` before failing with a message
    that says what to close.
    """

    path: str
    lock_timeout_s: float = 60.0

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection with the schema in place; closed on exit."""
        path = Path(self.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        con = _connect_with_retry(path, self.lock_timeout_s)
        try:
            ensure_schema(con)
            yield con
        finally:
            con.close()


def _connect_with_retry(path: Path, timeout_s: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(path))
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() >= deadline:
                raise WarehouseLockedError(
                    f"{path} is open for writing in another process (a DuckDB shell or "
                    f"notebook?). Close it, or query the serving copy instead. ({exc})"
                ) from exc
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
