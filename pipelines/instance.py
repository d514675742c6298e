"""The project's one Dagster instance: run history, schedule state and asset records.

Every entry point uses the same folder, so a run made by `keepwarm run` shows in the UI's
run list, and a schedule turned on in the UI stays on after a restart. The folder is
`$DAGSTER_HOME` when that is set (an always-on deployment names its own), else a
`dagster` folder beside the warehouse (`data/dagster/` by default), with a dagster.yaml
written on first use and never overwritten, so it can be edited.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from engine.config import KeepwarmConfig

if TYPE_CHECKING:
    from dagster import DagsterInstance

DAGSTER_HOME_ENV = "DAGSTER_HOME"

INSTANCE_YAML = """\
# The Dagster instance keepwarm's runs, schedules and asset records are kept in (SQLite
# files in this folder). Written by keepwarm when it was missing; edit it freely:
# https://docs.dagster.io/deployment/oss/dagster-yaml
# keepwarm keeps everything on this machine: no usage statistics are sent to Dagster.
telemetry:
  enabled: false
"""


def dagster_home(config: KeepwarmConfig) -> Path:
    """The instance folder for `config`: $DAGSTER_HOME, else `dagster/` beside the warehouse."""
    if os.environ.get(DAGSTER_HOME_ENV):
        return Path(os.environ[DAGSTER_HOME_ENV]).expanduser().resolve()
    return Path(config.warehouse.path).parent / "dagster"


def prepare_dagster_home(config: KeepwarmConfig) -> Path:
    """Create the instance folder and its dagster.yaml if they are missing; return the folder."""
    home = dagster_home(config)
    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    if not settings.exists():
        settings.write_text(INSTANCE_YAML, encoding="utf-8")
    return home


def project_instance(config: KeepwarmConfig) -> DagsterInstance:
    """The persistent instance for `config` (use it as a context manager to close it)."""
    from dagster import DagsterInstance  # Dagster loads slowly; the CLI's other commands don't

    return DagsterInstance.from_config(str(prepare_dagster_home(config)))
