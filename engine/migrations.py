"""Schema migrations: numbered SQL files that bring a warehouse from any earlier shape to now.

`assets/sql/migrations/NNNN_name.sql` are applied in order of NNNN, each in one transaction
together with its row in `meta.schema_migrations`, so a run killed during a migration leaves
the warehouse at the version before it. The caller holds the writer lock (Warehouse.connect
does), so two processes never migrate one file at once.

A warehouse made before migrations existed has raw tables but no meta.schema_migrations: it
is brought to the baseline in place (the columns its tables lack are added, missing tables
created) and recorded as at version 1. A warehouse recorded at a version this code does not
have was written by a newer keepwarm, and is refused rather than written with old SQL.

Why no migration library: docs/architecture.md, Migrations (the general ones run on
SQLAlchemy or DB-API drivers whose DuckDB support is third-party; the DuckDB-specific ones
are single releases left unmaintained). Numbered SQL files in a table of applied versions,
as Flyway and dbt do, are a page of code here.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "assets" / "sql" / "migrations"
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# A table every keepwarm warehouse has had since the first release: its presence without
# meta.schema_migrations marks a warehouse made before migrations existed.
_PRE_MIGRATION_MARKER = ("raw", "messages")

# The runner's own ledger, created by the runner (as Flyway creates its history table):
# every migration file, the baseline included, is recorded in it. No primary key: only the
# runner writes it, under the writer lock, and an index would hold memory on every
# connection.
_LEDGER_DDL = (
    "create schema if not exists meta",
    """create table if not exists meta.schema_migrations (
        version integer not null,
        name varchar not null,
        checksum varchar not null,
        applied_at timestamptz not null default current_timestamp,
        how varchar not null default 'applied'
    )""",
    "comment on table meta.schema_migrations is 'One row per schema migration applied to this "
    "warehouse (assets/sql/migrations/NNNN_name.sql), written in the migration''s own "
    "transaction. Key: version.'",
    "comment on column meta.schema_migrations.version is 'NNNN of the file: migrations apply "
    "in this order, and the highest is the warehouse''s schema version.'",
    "comment on column meta.schema_migrations.name is 'The file''s name after the number.'",
    "comment on column meta.schema_migrations.checksum is 'SHA-256 of the file as applied "
    "(first 16 hex digits): a file edited after it was applied is reported in the log.'",
    "comment on column meta.schema_migrations.applied_at is 'When it was applied.'",
    "comment on column meta.schema_migrations.how is 'applied (run as written), or adopted "
    "(a warehouse made before migrations existed, brought to the baseline in place).'",
)


class WarehouseTooNewError(RuntimeError):
    """The warehouse was migrated by a newer keepwarm than this one."""


@dataclass(frozen=True)
class Migration:
    """One numbered SQL file."""

    version: int
    name: str
    path: Path

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()[:16]


def migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files in order; two files with one number are a mistake in the code."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise ValueError(f"{path} is not named NNNN_name.sql")
        version = int(match[1])
        if version in found:
            raise ValueError(f"two migrations numbered {version}: {found[version].path.name} "
                             f"and {path.name}")
        found[version] = Migration(version, match[2], path)
    return [found[v] for v in sorted(found)]


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The highest migration applied to the warehouse; 0 when none is recorded."""
    if not _table_exists(con, "meta", "schema_migrations"):
        return 0
    return con.execute("select coalesce(max(version), 0) from meta.schema_migrations"
                       ).fetchall()[0][0]


def migrate(con: duckdb.DuckDBPyConnection, directory: Path = MIGRATIONS_DIR) -> list[int]:
    """Apply every migration the warehouse lacks, in order; return the versions applied.

    Raises:
        WarehouseTooNewError: the warehouse records a version this code does not know.
    """
    files = migrations(directory)
    known = {m.version for m in files}
    if _table_exists(con, "meta", "schema_migrations"):
        applied = dict(con.execute(
            "select version, checksum from meta.schema_migrations").fetchall())
    else:
        applied = None
    if applied:
        unknown = sorted(set(applied) - known)
        if unknown:
            raise WarehouseTooNewError(_too_new(_database_path(con), max(applied),
                                                max(known, default=0)))
        for m in files:
            if m.version in applied and applied[m.version] != m.checksum:
                log.warning("migration %s was edited after it was applied to %s; the "
                            "warehouse keeps the version it applied (add a new migration "
                            "instead of editing one)", m.path.name, _database_path(con))
    pending = [m for m in files if not applied or m.version not in applied]
    if not pending:
        return []
    adopt = applied is None and _table_exists(con, *_PRE_MIGRATION_MARKER)
    done = []
    for m in pending:
        con.begin()
        try:
            for statement in _LEDGER_DDL:
                con.execute(statement)
            how = "applied"
            if adopt and m.version == files[0].version:
                _add_missing_columns(con, m.path)
                how = "adopted"
            _run_file(con, m.path)
            con.execute(
                "insert into meta.schema_migrations (version, name, checksum, how) "
                "values ($version, $name, $checksum, $how)",
                {"version": m.version, "name": m.name, "checksum": m.checksum, "how": how},
            )
            con.commit()
        except BaseException:
            con.rollback()
            raise
        log.info("warehouse schema: %s migration %04d_%s", how, m.version, m.name)
        done.append(m.version)
    return done


def _run_file(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    # Imported here: engine.warehouse imports this module to migrate on every connection.
    from engine.warehouse import sql_statements

    for statement in sql_statements(path):
        con.execute(statement)


def _add_missing_columns(con: duckdb.DuckDBPyConnection, baseline: Path) -> None:
    """Give the existing tables of a pre-migration warehouse the baseline's columns.

    The baseline is built in a scratch in-memory database to learn its columns; a column an
    old table lacks is added with its type and default. It is added without NOT NULL: the
    rows already there have no value for it (they get its default, else null).
    """
    scratch = duckdb.connect(":memory:")
    try:
        _run_file(scratch, baseline)
        wanted = scratch.execute(
            "select schema_name, table_name, column_name, data_type, column_default "
            "from duckdb_columns() where database_name = current_database() "
            "order by schema_name, table_name, column_index").fetchall()
    finally:
        scratch.close()
    have = {
        (s, t, c.lower())
        for s, t, c in con.execute(
            "select schema_name, table_name, column_name from duckdb_columns() "
            "where database_name = current_database()").fetchall()
    }
    tables = {(s, t) for s, t, _ in have}
    for schema, table, column, data_type, default in wanted:
        if (schema, table) not in tables or (schema, table, column.lower()) in have:
            continue
        # Names come from the baseline file, never from user input.
        statement = (f'alter table {schema}.{table} add column "{column}" {data_type}'
                     + (f" default {default}" if default is not None else ""))
        log.info("warehouse schema: %s.%s lacks %s, adding it", schema, table, column)
        con.execute(statement)


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(con.execute(
        "select count(*) from duckdb_tables() where database_name = current_database() "
        "and schema_name = $schema and table_name = $table",
        {"schema": schema, "table": table}).fetchall()[0][0])


def _database_path(con: duckdb.DuckDBPyConnection) -> str:
    rows = con.execute("select path from duckdb_databases() "
                       "where database_name = current_database()").fetchall()
    return rows[0][0] if rows and rows[0][0] else "the warehouse"


def refuse_newer(path: str | Path) -> None:
    """Raise WarehouseTooNewError before a run starts if the file at `path` is too new.

    The run's steps would refuse it too, but each inside Dagster, as a failed step; this
    says it once, up front. A missing file, or one another process holds, is left to the run.
    """
    path = Path(path)
    if not path.exists():
        return
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return
    try:
        known = max((m.version for m in migrations()), default=0)
        version = schema_version(con)
        if version > known:
            raise WarehouseTooNewError(_too_new(str(path), version, known))
    finally:
        con.close()


def _too_new(path: str, version: int, known: int) -> str:
    return (f"{path} has schema version {version}, written by a newer keepwarm; this one "
            f"knows versions up to {known}. Update keepwarm (git pull, then python3 run.py "
            "demo to reinstall), or set warehouse.path in keepwarm.yaml to another file. "
            "The warehouse was not changed.")
