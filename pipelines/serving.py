"""The serving copy: a whole DuckDB file for readers, swapped in after every build.

DuckDB lets a file be opened read-write by one process, and read-only by others only
while nobody writes it, so a user's SQL session on the warehouse itself would fail
whenever a run writes. Readers open the serving copy instead. It is written under a
temporary name next to its final place and renamed over it, which is atomic: a reader
opening the path gets the previous complete file or the new one, never a half-written
file, and the pipeline never opens the serving path itself, so a reader never waits.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines.warehouse import fetch_one


@dataclass(frozen=True)
class PublishedCopy:
    path: Path
    bytes: int
    tables: int
    seconds: float


class ServingCopyMissingError(FileNotFoundError):
    """No build has published a serving copy yet."""


def publish_serving_copy(con: duckdb.DuckDBPyConnection, serving: Path) -> PublishedCopy:
    """Copy the database `con` has open into a new file and swap it in at `serving`.

    `COPY FROM DATABASE` reads one consistent snapshot and carries tables, views, macros
    and every COMMENT ON text, so the copy documents itself like the warehouse does. Call
    it while holding the warehouse's writer lock (`Warehouse.connect`), so no build step
    changes the warehouse between the copy and the swap.
    """
    started = time.perf_counter()
    serving.parent.mkdir(parents=True, exist_ok=True)
    temporary = serving.with_name(f".{serving.name}.{os.getpid()}.tmp")
    _remove(temporary)
    source = fetch_one(con, "select current_database()")[0]
    quoted_path = str(temporary).replace("'", "''")
    con.execute(f"attach '{quoted_path}' as serving_copy")
    try:
        con.execute(f'copy from database "{source}" to serving_copy')
    finally:
        con.execute("detach serving_copy")
    wal = temporary.with_name(temporary.name + ".wal")
    if wal.exists():
        # Detaching checkpoints; a WAL left over would not travel with the rename.
        _remove(temporary)
        raise RuntimeError(f"the serving copy {temporary} kept a write-ahead log after "
                           "detaching; the old serving copy stays in place")
    with duckdb.connect(str(temporary), read_only=True) as check:
        tables = fetch_one(check, "select count(*) from duckdb_tables()")[0]
    os.replace(temporary, serving)
    return PublishedCopy(serving, serving.stat().st_size, tables,
                         time.perf_counter() - started)


def open_serving_copy(serving: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the serving copy, which no build ever holds."""
    if not serving.exists():
        raise ServingCopyMissingError(
            f"no serving copy at {serving} yet: it is published at the end of each "
            "successful run (`keepwarm run`)"
        )
    return duckdb.connect(str(serving), read_only=True)


def _remove(path: Path) -> None:
    for leftover in (path, path.with_name(path.name + ".wal")):
        leftover.unlink(missing_ok=True)
