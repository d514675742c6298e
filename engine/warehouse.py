"""The DuckDB warehouse: opening it, laying down its schema, loading batches, running SQL files.

Every write path goes through here so that the guarantees hold everywhere: a connector's
batch and its cursor land in one transaction (a run killed at any point resumes without
loss or duplicates), whether it comes straight from a connector or from the landing zone;
rows are upserted by natural key; SQL files get their values as bound parameters; and
writers queue for the file instead of colliding.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from connectors.records import Batch, Cursor, events_frame, messages_frame, quarantine_frame
from engine.compaction import Compaction, compact
from engine.landing import SNAPSHOT_TABLES, LandedBatch, LandingZone
from engine.locks import exclusive_lock
from engine.migrations import migrate

log = logging.getLogger(__name__)

SQL_DIR = Path(__file__).resolve().parent.parent / "assets" / "sql"
# The raw tables (their DDL: assets/sql/migrations). actions is the user's own (keepwarm
# log, snooze, ignore, cadence): no load touches it.
RAW_TABLES = (
    "messages", "events", "quarantine", "sync_state", "demo_truth", "actions", "contacts",
    "contact_groups",
)

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


def _is_comment_on(statement: str) -> bool:
    code = (line.strip() for line in statement.splitlines())
    first = next(line for line in code if line and not line.startswith("--"))
    return first.lower().startswith("comment on ")


def parameters_of(path: Path) -> set[str]:
    """The `$name` parameters a SQL file binds."""
    return {
        name
        for statement in sql_statements(path)
        for name in _PARAMETER.findall(_NOT_CODE.sub("", statement))
    }


def sql_fingerprint(path: Path, params: Mapping[str, Any]) -> str:
    """A hash of what a SQL file's result depends on besides the data: its text, the macros
    it may call, and the values of the parameters it binds (FINGERPRINT_EXCLUDES aside).

    An incremental build stores it and rebuilds everything when it changes.
    """
    used = sorted(parameters_of(path) - set(FINGERPRINT_EXCLUDES))
    digest = hashlib.sha256()
    for source in (path, SQL_DIR / "schemas.sql"):
        digest.update(source.read_bytes())
    digest.update(json.dumps({name: params.get(name) for name in used}, default=str,
                             sort_keys=True).encode())
    return digest.hexdigest()[:16]


# Parameters that say how to build, not what: they stay out of a file's fingerprint. The
# as-of time moves every night; an incremental file that reads it records the one it was
# built for and redoes what its move affects (marts/contact_summaries.sql).
FINGERPRINT_EXCLUDES = ("sql_fingerprint", "full_rebuild", "as_of")


def run_sql_file(
    con: duckdb.DuckDBPyConnection, path: Path, params: Mapping[str, Any] | None = None,
    *, comments: bool = True,
) -> None:
    """Execute every statement of `path`, binding each `$name` it uses from `params`.

    `comments=False` leaves out its COMMENT ON statements, for a build that is rolled back
    (past statuses, assets/history.py): they cost a few milliseconds each and nothing reads
    them there.
    """
    params = params or {}
    for statement in sql_statements(path):
        if not comments and _is_comment_on(statement):
            continue
        names = set(_PARAMETER.findall(_NOT_CODE.sub("", statement)))
        missing = names - params.keys()
        if missing:
            raise KeyError(f"{path.name} needs parameters {sorted(missing)}")
        con.execute(statement, {name: params[name] for name in names} or None)


def query_sql_file(
    con: duckdb.DuckDBPyConnection, path: Path, params: Mapping[str, Any] | None = None
) -> duckdb.DuckDBPyConnection:
    """Run the one query in `path`, binding each `$name` it uses; the cursor holds its rows."""
    (statement,) = sql_statements(path)
    params = params or {}
    names = set(_PARAMETER.findall(_NOT_CODE.sub("", statement)))
    missing = names - params.keys()
    if missing:
        raise KeyError(f"{path.name} needs parameters {sorted(missing)}")
    return con.execute(statement, {name: params[name] for name in names} or None)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Bring the warehouse's schema up to date: the shared macros, then every migration it
    lacks (engine/migrations.py). Call under the writer lock, as Warehouse.connect does.

    Raises:
        WarehouseTooNewError: the file was migrated by a newer keepwarm.
    """
    # One transaction: the macros' statements committed one by one cost every connection
    # a noticeable share of a second.
    con.begin()
    try:
        run_sql_file(con, SQL_DIR / "schemas.sql")
        con.commit()
    except BaseException:
        con.rollback()
        raise
    migrate(con)


def apply_batch(con: duckdb.DuckDBPyConnection, batch: Batch) -> None:
    """Load one connector batch and its cursor atomically.

    Messages and events replace any earlier row with the same natural key, so replaying a
    batch after a crash changes nothing; deletions and the cursor commit with the rows.
    """
    frames = _frames(
        messages=messages_frame(batch.messages) if batch.messages else None,
        events=events_frame(batch.events) if batch.events else None,
        quarantine=quarantine_frame(batch.quarantine) if batch.quarantine else None,
        deleted_message_keys=batch.deleted_message_keys,
        deleted_event_keys=batch.deleted_event_keys,
    )
    _apply_atomically(con, frames, replace=batch.replace_account_source,
                      cursors=[batch.cursor] if batch.cursor else [])


# raw.sync_state's source for the loader's own position in each mailbox's landing folder.
LANDING_SOURCE = "landing"


@dataclass
class LoadReport:
    """What one pass of `load_landing` moved into raw.*."""

    batches: int = 0
    messages: int = 0
    events: int = 0
    quarantined: int = 0
    mailboxes: list[str] = field(default_factory=list)


def load_landing(con: duckdb.DuckDBPyConnection, zone: LandingZone) -> LoadReport:
    """Load every batch landed since the last load, mailbox by mailbox, in landing order.

    Each batch commits in one transaction together with its cursor and the loader's
    position (`raw.sync_state`, source "landing", stream = the mailbox's kind), so a load
    killed half-way resumes with the first batch it had not committed.
    """
    report = LoadReport()
    for mailbox in zone.mailboxes():
        landing_id = mailbox.landing_id()
        position = load_cursor(con, mailbox.account, LANDING_SOURCE, mailbox.kind) or {}
        after = position.get("seq", 0) if position.get("landing_id") == landing_id else 0
        for group in _load_groups(mailbox.committed(after_seq=after)):
            apply_landed_group(con, group, landing_id=landing_id)
            for landed in group:
                report.batches += 1
                report.messages += landed.rows.get("messages", 0)
                report.events += landed.rows.get("events", 0)
                report.quarantined += landed.rows.get("quarantine", 0)
            key = f"{mailbox.kind}:{mailbox.account}"
            if not report.mailboxes or report.mailboxes[-1] != key:
                report.mailboxes.append(key)
    return report


# Rows per load transaction when consecutive landed batches only add rows: a first import
# lands hundreds of 5,000-row batches, and each transaction's fixed cost (the upsert's
# delete-join, the cursor writes, the commit) is paid per group instead of per batch.
LOAD_GROUP_ROWS = 100_000


def _load_groups(batches: Iterator[LandedBatch]) -> Iterator[list[LandedBatch]]:
    """Consecutive batches that only add rows, up to LOAD_GROUP_ROWS rows; any other batch
    (deletions, a replacement, a snapshot) alone, so it applies exactly as it landed."""
    group: list[LandedBatch] = []
    rows = 0
    for landed in batches:
        if not _rows_only(landed):
            if group:
                yield group
            yield [landed]
            group, rows = [], 0
            continue
        size = sum(landed.rows.values())
        if group and rows + size > LOAD_GROUP_ROWS:
            yield group
            group, rows = [], 0
        group.append(landed)
        rows += size
    if group:
        yield group


def _rows_only(landed: LandedBatch) -> bool:
    return not (landed.deleted_message_keys or landed.deleted_event_keys
                or landed.replace_account_source or landed.snapshots)


def apply_landed_group(con: duckdb.DuckDBPyConnection, group: list[LandedBatch], *,
                       landing_id: str) -> None:
    """Load several row-only landed batches in one transaction, as if applied one by one.

    Rows keep their landing order, so a key landed twice resolves to its last copy as it
    would batch by batch; each stream's last cursor and the loader's position after the
    group's last batch commit with the rows, so a load killed half-way resumes at the
    first batch of the group it had not committed.
    """
    if len(group) == 1:
        apply_landed(con, group[0], landing_id=landing_id)
        return
    parts: dict[str, list[pl.DataFrame]] = {"messages": [], "events": [], "quarantine": []}
    cursors: dict[tuple[str, str, str], Cursor] = {}
    for landed in group:
        for table, frames in parts.items():
            frame = landed.table(table)
            if frame is not None:
                frames.append(frame)
        if landed.cursor:
            c = landed.cursor
            cursors[(c.account, c.source, c.stream)] = c
    last = group[-1]
    position = Cursor(last.mailbox.account, LANDING_SOURCE, last.mailbox.kind,
                      {"landing_id": landing_id, "seq": last.seq})
    # Diagonal: a batch landed before a migration added a column (raw.events'
    # birthday_contact) lacks it; its rows get null there, as a load of it alone would.
    frames = _frames(
        messages=pl.concat(parts["messages"]) if parts["messages"] else None,
        events=pl.concat(parts["events"], how="diagonal_relaxed") if parts["events"] else None,
        quarantine=pl.concat(parts["quarantine"]) if parts["quarantine"] else None,
        deleted_message_keys=[], deleted_event_keys=[],
    )
    _apply_atomically(con, frames, replace=None, cursors=[*cursors.values(), position])


def apply_landed(con: duckdb.DuckDBPyConnection, landed: LandedBatch, *, landing_id: str) -> None:
    """Load one landed batch exactly as `apply_batch` loads a connector's, plus its position."""
    frames = _frames(
        messages=landed.table("messages"),
        events=landed.table("events"),
        quarantine=landed.table("quarantine"),
        deleted_message_keys=landed.deleted_message_keys,
        deleted_event_keys=landed.deleted_event_keys,
    )
    for table in landed.snapshots:
        frames[f"snapshot_{table}"] = landed.table(table)
    position = Cursor(landed.mailbox.account, LANDING_SOURCE, landed.mailbox.kind,
                      {"landing_id": landing_id, "seq": landed.seq})
    _apply_atomically(con, frames, replace=landed.replace_account_source,
                      snapshots=landed.snapshots,
                      cursors=[c for c in (landed.cursor, position) if c])


_MESSAGE_KEY = ("account", "message_key")
_EVENT_KEY = ("account", "calendar_id", "event_key")


def _frames(
    *, messages: pl.DataFrame | None, events: pl.DataFrame | None,
    quarantine: pl.DataFrame | None, deleted_message_keys: list[tuple[str, str]],
    deleted_event_keys: list[tuple[str, str, str]],
) -> dict[str, pl.DataFrame]:
    """A batch's parts as frames, each under the view name the load statements use."""
    frames: dict[str, pl.DataFrame] = {}
    # The row index lets a record repeated inside one batch resolve to its last copy.
    if messages is not None:
        frames["incoming_messages"] = messages.with_row_index("_position")
    if events is not None:
        frames["incoming_events"] = events.with_row_index("_position")
    if quarantine is not None:
        frames["incoming_quarantine"] = quarantine
    if deleted_message_keys:
        frames["gone_messages"] = pl.DataFrame(
            deleted_message_keys, schema=list(_MESSAGE_KEY), orient="row"
        )
    if deleted_event_keys:
        frames["gone_events"] = pl.DataFrame(
            deleted_event_keys, schema=list(_EVENT_KEY), orient="row"
        )
    return frames


def _apply_atomically(
    con: duckdb.DuckDBPyConnection, frames: dict[str, pl.DataFrame], *,
    replace: tuple[str, str] | None, cursors: list[Cursor],
    snapshots: Mapping[str, str] | None = None,
) -> None:
    for name, frame in frames.items():
        con.register(name, frame.to_arrow())
    try:
        con.begin()
        try:
            _apply(con, frames.keys(), replace=replace, snapshots=snapshots or {},
                   cursors=cursors)
            con.commit()
        except BaseException:
            con.rollback()
            raise
    finally:
        for name in frames:
            con.unregister(name)


def _apply(
    con: duckdb.DuckDBPyConnection, views, *, replace: tuple[str, str] | None,
    snapshots: Mapping[str, str], cursors: list[Cursor],
) -> None:
    if replace:
        account, source = replace
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
    for table, account in snapshots.items():
        # Table names come from landing.SNAPSHOT_TABLES, never from a file's contents.
        if table not in SNAPSHOT_TABLES:
            raise ValueError(f"a landed batch asks to replace raw.{table}, which is not a "
                             f"snapshot table ({SNAPSHOT_TABLES})")
        con.execute(f"delete from raw.{table} where account = $account", {"account": account})
        con.execute(f"insert into raw.{table} by name select * from snapshot_{table}")
    for c in cursors:
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


# Op tags of every step that writes the warehouse: the executor runs one of them at a time.
# On Celery they go to the one queue that exactly one worker serves (docs/deploy.md).
WRITER_QUEUE_TAG = "dagster-celery/queue"
WRITER_QUEUE = "keepwarm-writer"
WRITER_TAGS = {"keepwarm/warehouse": "writer", WRITER_QUEUE_TAG: WRITER_QUEUE}


# Bytes 8-11 of every DuckDB database file (its header's magic number).
_DUCKDB_MAGIC = b"DUCK"


def database_file_problem(path: Path) -> str | None:
    """Why `path` cannot be the warehouse, or None: it is a DuckDB file, empty, or absent
    (then a run creates it). Another kind of file there is never opened, let alone
    overwritten: a typo in warehouse.path must not cost the user that file."""
    if path.is_dir():
        return f"{path}: is a folder, expected a DuckDB database file"
    try:
        with path.open("rb") as f:
            head = f.read(12)
    except FileNotFoundError:
        return None
    except PermissionError:
        return f"{path}: permission denied (check the file's owner and mode)"
    if head and head[8:12] != _DUCKDB_MAGIC:
        return (f"{path}: not a DuckDB database file (keepwarm will not overwrite it): "
                "move it away or name a new file")
    return None


class WarehouseLockedError(RuntimeError):
    """Another process holds the DuckDB file for writing."""


@dataclass(frozen=True)
class Warehouse:
    """The DuckDB file the pipeline writes, and the serving copy users query.

    DuckDB lets one process at a time open a file for writing, so connections are short:
    each asset opens, writes and closes. Steps of the pipeline queue for the file on a lock
    beside it (`<file>.writer.lock`) for up to `writer_wait_s`, so two writers never
    overlap, whichever executor, run or command started them. Another holder of the
    DuckDB file itself (a user's read-write SQL shell, say) is waited for `lock_timeout_s`
    before failing with a message that says what to close.
    """

    path: str
    serving_path: str | None = None
    lock_timeout_s: float = 60.0
    writer_wait_s: float = 6 * 3600.0
    memory_limit: str | None = None

    def serving_file(self) -> Path:
        """The serving copy: `serving_path`, else `<stem>.serving<suffix>` beside the file."""
        if self.serving_path:
            return Path(self.serving_path)
        path = Path(self.path)
        return path.with_name(f"{path.stem}.serving{path.suffix}")

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection with the schema in place; closed on exit."""
        path = Path(self.path)
        with self._writer_lock():
            con = _connect_with_retry(path, self.lock_timeout_s, self.memory_limit,
                                     self.serving_file())
            try:
                ensure_schema(con)
                yield con
            finally:
                con.close()

    def compact(self) -> Compaction | None:
        """Rewrite the file if enough of it is free blocks (engine/compaction.py), holding
        the writer lock; None when there is no file yet."""
        path = Path(self.path)
        with self._writer_lock():
            if not path.exists():
                return None
            # Opened once first, so that another holder of the file is waited for and
            # named as a connection would, rather than failing inside compaction.
            _connect_with_retry(path, self.lock_timeout_s, self.memory_limit,
                                     self.serving_file()).close()
            return compact(path)

    @contextmanager
    def _writer_lock(self) -> Iterator[None]:
        path = Path(self.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(
            path.with_name(f"{path.name}.writer.lock"), wait_s=self.writer_wait_s,
            on_wait=lambda: log.info("waiting for another keepwarm step to finish writing %s",
                                     path),
            held_by="another keepwarm step writing the warehouse",
        ):
            yield


_HOLDER_PID = re.compile(r"\(PID (\d+)\)")


def lock_holder(message: str) -> str:
    """Who holds a DuckDB file, from DuckDB's lock error: PID and, where the system shows
    it (/proc), the command line; else what DuckDB said."""
    match = _HOLDER_PID.search(message)
    if not match:
        return f"another process ({message})"
    pid = match[1]
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return f"process {pid}"
    command = " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)
    if len(command) > 200:
        command = command[:199] + "…"
    return f"process {pid} ({command})" if command else f"process {pid}"


# DuckDB may fill this share of the free space on the warehouse's disk with what it
# spills beyond warehouse.memory_limit (its `.tmp` folder beside the file), measured when
# a connection opens. DuckDB's own bound is 90% of it: one runaway build would leave a
# laptop without disk. A build that needs more fails as if out of memory, and is retried
# without the memory cap (assets/tables.py, build_table).
TEMP_SHARE_OF_FREE_DISK = 0.5


def connection_settings(path: Path | str, memory_limit: str | None = None) -> dict[str, str]:
    """The DuckDB settings every connection that builds the warehouse at `path` opens with:
    the memory cap, if any, and a bound on what spills to disk (TEMP_SHARE_OF_FREE_DISK)."""
    settings = {"memory_limit": memory_limit} if memory_limit else {}
    try:
        free = shutil.disk_usage(Path(path).resolve().parent).free
    except OSError:  # a folder not there yet: DuckDB's own bound applies
        return settings
    settings["max_temp_directory_size"] = f"{int(free * TEMP_SHARE_OF_FREE_DISK) // 2**20}MiB"
    return settings


def _connect_with_retry(
    path: Path, timeout_s: float, memory_limit: str | None = None,
    serving: Path | None = None,
) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    settings = connection_settings(path, memory_limit)
    while True:
        try:
            return duckdb.connect(str(path), config=settings)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() >= deadline:
                raise WarehouseLockedError(
                    f"{path} is held by {lock_holder(str(exc))}, a DuckDB session (shell, "
                    "notebook or script; read-only ones hold it too) that keeps the run from "
                    f"writing. Close it; to query while runs write, open the serving copy "
                    f"{serving or 'instead'}, which no run holds (keepwarm sql reads it)."
                ) from exc
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
