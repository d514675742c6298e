"""Resources the assets share: the user's settings, the landing zone and the warehouse.

Each is the Dagster face of something in engine/: settings the launchpad and the UI can
show and override, turned into the engine's own objects when a step runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import ConfigurableResource

from engine.config import KeepwarmConfig, load_config
from engine.landing import LandingZone
from engine.warehouse import Warehouse


class Settings(ConfigurableResource):
    """keepwarm.yaml, read afresh by each run so edits apply without restarting the UI."""

    config_path: str

    def load(self) -> KeepwarmConfig:
        return load_config(Path(self.config_path))


class Landing(ConfigurableResource):
    """Where mailboxes land as Parquet: a local folder, or s3:// / gs:// on a cluster."""

    path: str

    def zone(self) -> LandingZone:
        return LandingZone(self.path)


class WarehouseResource(ConfigurableResource):
    """The DuckDB file the pipeline writes and its serving copy (see engine.warehouse)."""

    path: str
    serving_path: str | None = None
    lock_timeout_s: float = 60.0
    writer_wait_s: float = 6 * 3600.0
    memory_limit: str | None = None

    def engine(self) -> Warehouse:
        return Warehouse(path=self.path, serving_path=self.serving_path,
                         lock_timeout_s=self.lock_timeout_s, writer_wait_s=self.writer_wait_s,
                         memory_limit=self.memory_limit)

    def serving_file(self) -> Path:
        return self.engine().serving_file()

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.engine().connect() as con:
            yield con
