"""Resources the assets share: the user's settings and the DuckDB warehouse."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource

from pipelines.config import KeepwarmConfig, load_config
from pipelines.warehouse import Warehouse

__all__ = ["Settings", "Warehouse"]


class Settings(ConfigurableResource):
    """keepwarm.yaml, read afresh by each run so edits apply without restarting the UI."""

    config_path: str

    def load(self) -> KeepwarmConfig:
        return load_config(Path(self.config_path))
