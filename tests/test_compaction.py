"""Compaction of the warehouse file, and leftovers of killed publishes and compactions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb

from engine.compaction import compact, temporary_path
from engine.serving import publish_serving_copy, remove_stale_copies
from engine.warehouse import Warehouse, ensure_schema


def bloated(path: Path) -> None:
    """A warehouse with its schema, a kept table, and the free blocks of a dropped one."""
    with duckdb.connect(str(path)) as con:
        ensure_schema(con)
        con.execute("create table raw.kept as select range as n from range(100000)")
        con.execute("comment on table raw.kept is 'kept rows'")
        con.execute("create table raw.dropped as select range as n, md5(range::varchar) as h "
                    "from range(2000000)")
        con.execute("checkpoint")
        con.execute("drop table raw.dropped")
        con.execute("checkpoint")


def test_a_file_mostly_free_blocks_is_rewritten_with_everything_in_it(tmp_path):
    path = tmp_path / "w.duckdb"
    bloated(path)
    temporary_path(path).write_bytes(b"left by a compaction killed before its rename")
    before = path.stat().st_size

    done = compact(path, min_bytes=0)

    assert done.compacted and done.free_fraction > 0.5
    assert done.bytes_before == before and done.bytes_after == path.stat().st_size < before / 2
    assert not temporary_path(path).exists()
    with duckdb.connect(str(path)) as con:
        assert con.execute("select count(*), sum(n) from raw.kept").fetchall() == [
            (100000, 100000 * 99999 // 2)]
        assert con.execute("select comment from duckdb_tables() where table_name = 'kept'"
                           ).fetchall() == [("kept rows",)]
        assert con.execute("select normalize_address('A.B+x@GoogleMail.com')").fetchall() == [
            ("ab@gmail.com",)]  # the macros travel too
        versions = con.execute("select version from meta.schema_migrations").fetchall()
        assert versions and con.execute("select count(*) from duckdb_constraints() "
                                        "where constraint_type = 'PRIMARY KEY' and table_name "
                                        "= 'status_history'").fetchall() == [(1,)]
        ensure_schema(con)  # nothing left to migrate
        assert con.execute("select version from meta.schema_migrations").fetchall() == versions


def test_a_file_with_few_free_blocks_is_left_alone(tmp_path):
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        ensure_schema(con)
        con.execute("create table raw.kept as select range as n from range(100000)")
    before = path.read_bytes()
    done = compact(path, min_bytes=0)
    assert not done.compacted and done.free_fraction < 0.15
    assert path.read_bytes() == before
    # Nor is a small file, however free.
    bloated(tmp_path / "small.duckdb")
    assert not compact(tmp_path / "small.duckdb", min_bytes=10**9).compacted


def test_the_warehouse_compacts_under_its_writer_lock(tmp_path):
    warehouse = Warehouse(path=str(tmp_path / "w.duckdb"))
    assert warehouse.compact() is None  # no file yet
    bloated(Path(warehouse.path))
    done = warehouse.compact()
    assert done.compacted  # 18 MB, mostly free: over both defaults
    with warehouse.connect() as con:
        assert con.execute("select count(*) from raw.kept").fetchall() == [(100000,)]


def test_publishing_removes_the_copies_of_killed_publishes_only(tmp_path):
    serving = tmp_path / "w.serving.duckdb"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = serving.with_name(f".{serving.name}.{gone.stdout.strip()}.tmp")
    dead.write_bytes(b"half a copy")
    dead.with_name(dead.name + ".wal").write_bytes(b"")
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        running = serving.with_name(f".{serving.name}.{alive.pid}.tmp")
        running.write_bytes(b"a copy being written")
        other = tmp_path / ".other.serving.duckdb.1.tmp"  # another warehouse's
        other.write_bytes(b"")
        with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
            ensure_schema(con)
            publish_serving_copy(con, serving)
        assert not dead.exists() and not dead.with_name(dead.name + ".wal").exists()
        assert running.exists() and other.exists() and serving.exists()
        assert remove_stale_copies(serving) == []
    finally:
        alive.kill()
        alive.wait()
