"""Resources the assets share: the user's settings, the landing zone and the warehouse."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource

from pipelines.config import KeepwarmConfig, load_config
from pipelines.landing import LandingZone
from pipelines.warehouse import Warehouse

__all__ = ["Landing", "Settings", "Warehouse"]


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
