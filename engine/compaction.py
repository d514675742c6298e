"""Keeping the warehouse file compact: DuckDB reuses the blocks that deletes free, but
does not return them, and a night of rewrites leaves some behind; so now and then the
warehouse is written afresh, and the fresh file replaces it.

`compact` is called by the serving step before it publishes, holding the writer lock
(`Warehouse.compact`), with no connection open. It measures the free blocks (`pragma
database_size`) and, when they are more than `min_free_fraction` of the file, copies the
database into `<file>.compact.tmp` (`COPY FROM DATABASE`: tables, views, macros and every
COMMENT ON text, re-encoded, so free space stays behind), checkpoints it, and renames it
over the file, which is atomic: a run killed at any point leaves the old file or the new
one, and at worst a `.compact.tmp`, which the next compaction removes.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

# The share of free blocks above which the file is rewritten. A fresh build of the same
# data is the target; 1.2x of it (issue 17) leaves room for the free blocks a night's
# rewrites leave, which DuckDB fills again the next night.
MIN_FREE_FRACTION = 0.15
# Below this a file is not worth rewriting (a new warehouse, a test).
MIN_BYTES = 8 * 2**20


@dataclass(frozen=True)
class Compaction:
    """What one `compact` call found and did."""

    bytes_before: int
    bytes_after: int
    free_fraction: float
    compacted: bool
    seconds: float


def temporary_path(path: Path) -> Path:
    return path.with_name(f"{path.name}.compact.tmp")


def free_fraction(con: duckdb.DuckDBPyConnection) -> float:
    """Free blocks as a share of the blocks of the file `con` has open (0 for in-memory)."""
    total, free = con.execute("select total_blocks, free_blocks from pragma_database_size() "
                              "where database_name = current_database()").fetchall()[0]
    return free / total if total else 0.0


def compact(path: Path, *, min_free_fraction: float = MIN_FREE_FRACTION,
            min_bytes: int = MIN_BYTES) -> Compaction:
    """Rewrite the DuckDB file at `path` when enough of it is free blocks.

    The caller holds the writer lock and has no connection open to `path`.
    """
    started = time.perf_counter()
    temporary = temporary_path(path)
    _remove(temporary)  # a compaction killed before its rename
    before = path.stat().st_size
    with duckdb.connect(str(path)) as con:
        con.execute("checkpoint")
        free = free_fraction(con)
        wanted = before >= min_bytes and free > min_free_fraction
        if wanted:
            (source,) = con.execute("select current_database()").fetchall()[0]
            quoted = str(temporary).replace("'", "''")
            con.execute(f"attach '{quoted}' as keepwarm_compacted")
            try:
                con.execute(f'copy from database "{source}" to keepwarm_compacted')
            finally:
                con.execute("detach keepwarm_compacted")
    if not wanted:
        return Compaction(before, before, free, False, time.perf_counter() - started)
    wal = temporary.with_name(temporary.name + ".wal")
    if wal.exists():
        _remove(temporary)
        raise RuntimeError(f"the compacted copy {temporary} kept a write-ahead log after "
                           "detaching; the warehouse stays as it was")
    os.replace(temporary, path)
    return Compaction(before, path.stat().st_size, free, True, time.perf_counter() - started)


def _remove(path: Path) -> None:
    for leftover in (path, path.with_name(path.name + ".wal")):
        leftover.unlink(missing_ok=True)
