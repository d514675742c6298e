"""The Dagster code location: assets, checks, resources, the job and the nightly schedule."""

from __future__ import annotations

from pathlib import Path

from dagster import (
    AssetSelection,
    Definitions,
    ScheduleDefinition,
    define_asset_job,
    in_process_executor,
)

from assets import ingest, model
from pipelines.checks import CHECKS
from pipelines.config import config_path, load_config
from pipelines.resources import Settings, Warehouse

ALL_ASSETS = [
    ingest.raw_sources,
    model.identities,
    model.people,
    model.interactions,
    model.contact_metrics,
    model.relationship_status,
    model.network_summary,
    model.open_loops,
]

JOB_NAME = "refresh_everything"

refresh_everything = define_asset_job(
    JOB_NAME,
    selection=AssetSelection.all(),
    description="Sync every source, then rebuild the model and metrics.",
)


def build_definitions(path: Path | None = None) -> Definitions:
    """Definitions for the config file at `path` (default: $KEEPWARM_CONFIG or keepwarm.yaml)."""
    path = path or config_path()
    config = load_config(path)
    nightly = ScheduleDefinition(
        name="nightly_refresh",
        job=refresh_everything,
        cron_schedule=config.schedule.cron,
        execution_timezone=config.schedule.timezone,
        description="Materialise the whole graph every night.",
    )
    return Definitions(
        assets=ALL_ASSETS,
        asset_checks=CHECKS,
        jobs=[refresh_everything],
        schedules=[nightly],
        resources={
            "settings": Settings(config_path=str(path)),
            "warehouse": Warehouse(path=config.warehouse.path),
        },
        # DuckDB admits one writer per file: assets run one after another in one process.
        executor=in_process_executor,
    )


defs = build_definitions()
