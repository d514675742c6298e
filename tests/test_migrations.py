"""Schema migrations: a new warehouse, one made before migrations existed, one made by a newer
keepwarm, and an upgraded warehouse against a fresh build of the same data."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from connectors.records import EVENT_SCHEMA, Batch, events_frame
from engine.migrations import MIGRATIONS_DIR, WarehouseTooNewError, migrate, migrations
from engine.warehouse import apply_batch, ensure_schema, sql_statements
from tests.conftest import make_config, rebuild_model
from tests.crafted import AS_OF, ME, mail, meeting

ROOT = Path(__file__).resolve().parent.parent
BEFORE_MIGRATIONS = ROOT / "tests" / "fixtures" / "warehouse" / "schema_before_migrations.sql"
# Columns that say when a row was written: they differ between two builds of the same data.
WRITE_TIMES = {"loaded_at", "built_at", "applied_at", "first_seen_at", "updated_at",
               "recorded_at"}


def ledger(con) -> list[tuple]:
    return con.execute(
        "select version, name, how from meta.schema_migrations order by version").fetchall()


def old_warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    """A warehouse laid down by the schema keepwarm had before migrations (the fixture)."""
    con = duckdb.connect(str(path))
    for statement in sql_statements(BEFORE_MIGRATIONS):
        con.execute(statement)
    return con


def test_a_new_warehouse_gets_every_migration_once_and_records_it(tmp_path):
    con = duckdb.connect(str(tmp_path / "new.duckdb"))
    ensure_schema(con)
    files = migrations()
    assert [m.version for m in files] == list(range(1, len(files) + 1))
    assert ledger(con) == [(m.version, m.name, "applied") for m in files]
    (checksums,) = con.execute("select list(checksum order by version) "
                               "from meta.schema_migrations").fetchall()[0]
    assert checksums == [m.checksum for m in files]
    assert migrate(con) == []  # nothing left to do
    ensure_schema(con)
    assert len(ledger(con)) == len(files)
    uncommented = con.execute(
        "select schema_name || '.' || table_name || '.' || column_name from duckdb_columns() "
        "where schema_name in ('raw', 'core', 'marts', 'meta') and comment is null").fetchall()
    assert uncommented == []


def test_a_migration_that_fails_leaves_the_warehouse_as_it_was(tmp_path):
    directory = tmp_path / "migrations"
    directory.mkdir()
    (directory / "0001_first.sql").write_text("create table raw_one (a integer);\n")
    (directory / "0002_broken.sql").write_text(
        "create table raw_two (a integer);\ninsert into raw_two (a) values ('not a number');\n")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    with pytest.raises(duckdb.ConversionException):
        migrate(con, directory)
    assert ledger(con) == [(1, "first", "applied")]
    tables = {t for (t,) in con.execute("select table_name from duckdb_tables()").fetchall()}
    assert tables == {"raw_one", "schema_migrations"}  # raw_two rolled back with its row


def test_a_warehouse_from_a_newer_keepwarm_is_refused_unchanged(tmp_path):
    _, config = make_config(tmp_path, me={"addresses": [ME]})
    with duckdb.connect(config.warehouse.path) as con:
        ensure_schema(con)
        con.execute("insert into meta.schema_migrations (version, name, checksum) "
                    "values (9999, 'from_the_future', 'x')")
    with duckdb.connect(config.warehouse.path) as con, pytest.raises(
            WarehouseTooNewError, match="schema version 9999, written by a newer keepwarm"):
        ensure_schema(con)
    # The CLI's message and exit status: tests/test_cli_errors.py.
    with duckdb.connect(config.warehouse.path, read_only=True) as con:
        assert max(v for v, _, _ in ledger(con)) == 9999


def test_a_pre_migration_warehouse_missing_a_column_and_reordered_is_brought_to_baseline(
        tmp_path):
    # The case: an earlier version's raw.messages lacks a column (18 columns for 19
    # values), and another table holds its columns in another order.
    con = old_warehouse(tmp_path / "old.duckdb")
    con.execute("alter table raw.messages drop column has_list_unsubscribe")
    con.execute("drop table raw.sync_state")
    con.execute("create table raw.sync_state (cursor json not null, stream varchar not null, "
                "source varchar not null, account varchar not null)")
    con.execute("insert into raw.sync_state values ('{\"offset\": 7}', 'inbox.mbox', 'mbox', "
                "'a@x.example')")
    con.execute("insert into raw.messages (account, source, message_key, sent_at, date_source) "
                "values ('a@x.example', 'mbox', 'k1', $at, 'date_header')", {"at": AS_OF})
    con.execute("drop table marts.status_history")  # an older file without the history

    ensure_schema(con)

    assert ledger(con)[0] == (1, "baseline", "adopted")
    columns = dict(con.execute(
        "select column_name, data_type from duckdb_columns() "
        "where schema_name = 'raw' and table_name = 'messages'").fetchall())
    assert columns["has_list_unsubscribe"] == "BOOLEAN"
    assert con.execute("select has_list_unsubscribe from raw.messages").fetchall() == [(None,)]
    # The cursor kept its values in their columns, and gained updated_at with its default.
    assert con.execute("select account, source, stream, cursor::varchar, updated_at is not null "
                       "from raw.sync_state").fetchall() == [
        ("a@x.example", "mbox", "inbox.mbox", '{"offset": 7}', True)]
    assert con.execute("select count(*) from marts.status_history").fetchall() == [(0,)]
    # A new load lands by name in the reordered table.
    from engine.warehouse import save_cursor
    save_cursor(con, "b@x.example", "gmail", "history", {"id": 1})
    assert con.execute("select account, stream from raw.sync_state order by account"
                       ).fetchall() == [("a@x.example", "inbox.mbox"), ("b@x.example", "history")]


def history_rows(con) -> list[tuple]:
    return con.execute("select * from marts.status_history order by 1, 2").fetchall()


def table_contents(con) -> dict[str, list[tuple]]:
    """Every table of raw, core and marts, rows sorted, write-time columns left out."""
    tables = con.execute(
        "select schema_name, table_name from duckdb_tables() "
        "where schema_name in ('raw', 'core', 'marts') order by 1, 2").fetchall()
    contents = {}
    for schema, table in tables:
        columns = [c for (c,) in con.execute(
            "select column_name from duckdb_columns() where schema_name = $s "
            "and table_name = $t order by column_name", {"s": schema, "t": table}).fetchall()
            if c not in WRITE_TIMES]
        listed = ", ".join(f'"{c}"' for c in columns)
        rows = con.execute(f"select {listed} from {schema}.{table}").fetchall()
        contents[f"{schema}.{table}"] = sorted(rows, key=repr)
    return contents


def test_an_old_warehouse_upgrades_in_place_to_what_a_fresh_build_holds(tmp_path):
    ana, bo = "ana@x.example", "bo@y.example"
    messages = [mail(ana, [ME], AS_OF - timedelta(days=d)) for d in (40, 20, 5)]
    messages += [mail(ME, [ana, bo], AS_OF - timedelta(days=d)) for d in (30, 3)]
    events = [meeting(AS_OF - timedelta(days=10), 30, [(ME, "accepted"), (bo, "accepted")])]
    _, config = make_config(tmp_path, me={"addresses": [ME]},
                            status={"as_of": AS_OF.isoformat()})

    # The old warehouse: its data loaded, and a status history only it has (the days before
    # the upgrade cannot be recomputed from the raw rows of a later day).
    old = old_warehouse(tmp_path / "old.duckdb")
    apply_batch(old, Batch(messages=messages))
    # Events as the old code loaded them: today's records carry columns a later migration
    # added (0004's birthday_contact), which the old table has no place for.
    old_columns = [c for (c,) in old.execute(
        "select column_name from duckdb_columns() "
        "where schema_name = 'raw' and table_name = 'events'").fetchall()]
    old.register("old_events", events_frame(events).select(
        [c for c in EVENT_SCHEMA if c in old_columns]))
    old.execute("insert into raw.events by name select * from old_events")
    old.unregister("old_events")
    planted = [(date(2026, 1, 1) + timedelta(days=n), ana, "active", 50.0 + n, 3, float(n),
                7.0, 0.5, 1) for n in range(3)]
    old.executemany("insert into marts.status_history values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    planted)
    ensure_schema(old)
    rebuild_model(old, config)

    fresh = duckdb.connect(str(tmp_path / "fresh.duckdb"))
    ensure_schema(fresh)
    apply_batch(fresh, Batch(messages=messages, events=events))
    fresh.executemany("insert into marts.status_history values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      planted)
    rebuild_model(fresh, config)

    assert ledger(old) == [(1, "baseline", "adopted"),
                           *[(m.version, m.name, "applied") for m in migrations()[1:]]]
    upgraded, built = table_contents(old), table_contents(fresh)
    assert upgraded.keys() == built.keys()
    for table in built:
        assert upgraded[table] == built[table], table
    assert history_rows(old) == [tuple(r) for r in planted]
    assert len(built["core.interactions"]) > 0 and len(built["marts.contact_summaries"]) == 2


# An insert names its columns: a list after the table, or BY NAME.
_INSERT = re.compile(r"insert\s+into\s+([\w.{}]+)\s*(\(|by\s+name\b)?", re.I)


def test_every_insert_names_its_columns():
    sources = [*sorted((ROOT / "assets").rglob("*.sql")), *sorted((ROOT / "assets").rglob("*.py")),
               *sorted((ROOT / "engine").rglob("*.py")),
               *sorted((ROOT / "pipelines").rglob("*.py"))]
    unnamed = []
    for path in sources:
        text = re.sub(r"--[^\n]*", "", path.read_text(encoding="utf-8"))
        for match in _INSERT.finditer(text):
            if match[2] is None:
                unnamed.append(f"{path.relative_to(ROOT)}: {match[0].strip()}")
    assert unnamed == []


def test_the_migration_files_are_named_in_order():
    names = sorted(p.name for p in MIGRATIONS_DIR.glob("*.sql"))
    assert names[0] == "0001_baseline.sql"
    assert [int(n[:4]) for n in names] == list(range(1, len(names) + 1))
