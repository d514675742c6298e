"""What the sync child processes share: their common arguments and the commit loop.

A child syncs from an emulator into a DuckDB file, committing batch by batch through
engine.warehouse.apply_batch, so a test can SIGKILL it at any point and restart it.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import duckdb

from connectors.records import Batch
from engine.warehouse import apply_batch, ensure_schema

ROOT = Path(__file__).resolve().parents[2]


def child_arguments() -> argparse.ArgumentParser:
    """A parser with the arguments every child takes; add the source's own to it."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--account", required=True)
    parser.add_argument("--token", default="test-token")
    parser.add_argument("--progress", help="a file that gets one line per committed batch")
    return parser


def open_warehouse(path: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(path)
    ensure_schema(con)
    return con


def commit_each(
    con: duckdb.DuckDBPyConnection, batches: Iterable[Batch], progress: str | None
) -> None:
    """Apply every batch in its own transaction, noting each one once it is committed."""
    log = open(progress, "a", buffering=1) if progress else None  # noqa: SIM115
    try:
        for batch in batches:
            apply_batch(con, batch)
            if log:
                log.write(f"{len(batch.messages) + len(batch.events)}\n")
    finally:
        if log:
            log.close()


def kill_after(module: str, arguments: list[str], progress: Path, batches: int) -> int:
    """Run a child (`python -m module arguments --progress progress`), SIGKILL it once it
    has committed `batches` batches, and return how many it had committed by then."""
    command = [sys.executable, "-m", module, *arguments, "--progress", str(progress)]
    child = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE)
    give_up = time.monotonic() + 60
    while child.poll() is None and time.monotonic() < give_up:
        if progress.exists() and len(progress.read_text().splitlines()) >= batches:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            return len(progress.read_text().splitlines())
        time.sleep(0.002)
    child.kill()
    raise AssertionError(f"the child ended before it was killed: {child.stderr.read()!r}")
