"""Shared fixtures: a real DuckDB file per test, and the model built from its raw tables."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
import yaml

from assets.tables import MODEL_TABLES, rebuild_model  # noqa: F401 - tests import them here
from connectors.records import Batch
from engine.config import KeepwarmConfig, load_config
from engine.warehouse import apply_batch, ensure_schema
from tests.crafted import AS_OF, ME


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to a fresh warehouse file with the raw schema in place."""
    connection = duckdb.connect(str(tmp_path / "test.duckdb"))
    ensure_schema(connection)
    yield connection
    connection.close()


def make_config(tmp_path: Path, **sections) -> tuple[Path, KeepwarmConfig]:
    """Write a keepwarm.yaml into tmp_path from keyword sections and load it back.

    Status history looks back a week unless a test says otherwise: every day snapshot
    costs a tenth of a second whatever the network's size, and a year of them would add
    most of a minute to each warehouse a test builds.
    """
    data = {"warehouse": {"path": str(tmp_path / "keepwarm.duckdb")},
            "history": {"look_back_days": 7}, **sections}
    path = tmp_path / "keepwarm.yaml"
    path.write_text(yaml.safe_dump(data, default_flow_style=False), encoding="utf-8")
    return path, load_config(path)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def model(con, tmp_path):
    """Load crafted records (tests/crafted.py), build the model as of AS_OF, hand back
    the connection; call it again to add records and rebuild."""

    def build(messages=(), events=(), **config_sections):
        apply_batch(con, Batch(messages=list(messages), events=list(events)))
        sections = {"me": {"addresses": [ME]}, "status": {"as_of": AS_OF.isoformat()}}
        sections.update(config_sections)
        _, config = make_config(tmp_path, **sections)
        rebuild_model(con, config)
        return con

    return build
