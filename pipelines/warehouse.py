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
# String literals and line comments may contain "$word" that is not a parameter.
_NOT_CODE = re.compile(r"'(?:[^']|'')*'|--[^\n]*")
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
        names = set(_PARAMETER.findall(_NOT_CODE.sub("", statement)))
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
    frames = _batch_frames(batch)
    for name, frame in frames.items():
        con.register(name, frame.to_arrow())
    try:
        con.begin()
        try:
            _apply(con, batch, frames.keys())
            con.commit()
        except BaseException:
            con.rollback()
            raise
    finally:
        for name in frames:
            con.unregister(name)


_MESSAGE_KEY = ("account", "message_key")
_EVENT_KEY = ("account", "calendar_id", "event_key")


def _batch_frames(batch: Batch) -> dict[str, pl.DataFrame]:
    """The batch's parts as frames, each under the view name the load statements use."""
    frames: dict[str, pl.DataFrame] = {}
    # The row index lets a record repeated inside one batch resolve to its last copy.
    if batch.messages:
        frames["incoming_messages"] = messages_frame(batch.messages).with_row_index("_position")
    if batch.events:
        frames["incoming_events"] = events_frame(batch.events).with_row_index("_position")
    if batch.quarantine:
        frames["incoming_quarantine"] = quarantine_frame(batch.quarantine)
    if batch.deleted_message_keys:
        frames["gone_messages"] = pl.DataFrame(
            batch.deleted_message_keys, schema=list(_MESSAGE_KEY), orient="row"
        )
    if batch.deleted_event_keys:
        frames["gone_events"] = pl.DataFrame(
            batch.deleted_event_keys, schema=list(_EVENT_KEY), orient="row"
        )
    return frames


def _apply(con: duckdb.DuckDBPyConnection, batch: Batch, views) -> None:
    if batch.replace_account_source:
        account, source = batch.replace_account_source
        for table in ("messages", "events"):
            con.execute(
                f"delete from raw.{table} where account = $account and source = $source",
                {"account": account, "source": source},
            )
    for table, key in (("messages", _MESSAGE_KEY), ("events", _EVENT_KEY)):
        match = " and ".join(f"t.{k} = v.{k}" for k in key)
        if f"incoming_{table}" in views:
            con.execute(f"delete from raw.{table} t using incoming_{table} v where {match}")
            con.execute(
                f"""
                insert into raw.{table} by name
                select * exclude (_position) from incoming_{table}
                qualify row_number() over (
                    partition by {", ".join(key)} order by _position desc
                ) = 1
                """
            )
        if f"gone_{table}" in views:
            con.execute(f"delete from raw.{table} t using gone_{table} v where {match}")
    if "incoming_quarantine" in views:
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
    if batch.cursor:
        c = batch.cursor
        save_cursor(con, c.account, c.source, c.stream, c.value)


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


def load_cursors(
    con: duckdb.DuckDBPyConnection, account: str, sources: tuple[str, ...]
) -> dict[str, dict]:
    """Every stored cursor of an account's streams from these sources, keyed by stream."""
    rows = con.execute(
        "select stream, cursor from raw.sync_state "
        "where account = $account and list_contains($sources, source)",
        {"account": account, "sources": list(sources)},
    ).fetchall()
    return {stream: json.loads(value) for stream, value in rows}


def message_keys(con: duckdb.DuckDBPyConnection, account: str, source: str) -> list[str]:
    """Every stored message key of an account from one source."""
    rows = con.execute(
        "select message_key from raw.messages where account = $account and source = $source",
        {"account": account, "source": source},
    ).fetchall()
    return [key for (key,) in rows]


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
