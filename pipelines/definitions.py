"""The code location: assets, checks, resources, the job, its executor and the schedule."""

from __future__ import annotations

import multiprocessing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dagster import (
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    DagsterInstance,
    Definitions,
    JobDefinition,
    RunRequest,
    ScheduleEvaluationContext,
    build_reconstructable_job,
    define_asset_job,
    execute_job,
    multiprocess_executor,
    schedule,
)

from assets import history, ingest, model
from assets.digest import DIGEST, digest_asset
from assets.serving import SERVING, serving_asset
from pipelines.checks import CHECKS
from pipelines.config import KeepwarmConfig, config_path, load_config
from pipelines.progress import LOGGERS
from pipelines.resources import Landing, Settings, Warehouse
from pipelines.warehouse import WRITER_TAGS

# The unpartitioned graph from raw.* on; landing/mailboxes (partitioned by the config's
# mailboxes), serving/warehouse (after everything here) and outputs/digest (after that)
# are added by build_definitions.
ALL_ASSETS = [
    ingest.raw_tables,
    model.identities,
    model.people,
    model.actions,
    model.interactions,
    model.contact_summaries,
    model.contact_metrics,
    model.relationship_status,
    model.network_summary,
    model.open_loops,
    model.introductions,
]

JOB_NAME = "refresh_everything"

refresh_everything = define_asset_job(
    JOB_NAME,
    # The history group has daily partitions of its own: its job runs after this one.
    selection=AssetSelection.all() - AssetSelection.groups(history.HISTORY_GROUP),
    description="Land every mailbox in parallel, load raw.*, rebuild the model and metrics, "
    "publish the serving copy.",
)

# Step processes fork from a server that has already imported these, instead of starting
# Python afresh: about 0.6 s a step instead of 3 s. The storage modules are what a step
# process needs to write its events to a default (SQLite) instance; a module that cannot
# be imported is skipped by the forkserver.
_PRELOADED = [
    "pipelines.definitions",
    "dagster._core.storage.event_log.sqlite", "dagster._core.storage.runs.sqlite",
    "dagster._core.storage.schedules.sqlite",
]
_START_METHOD = (
    {"forkserver": {"preload_modules": _PRELOADED}}
    if "forkserver" in multiprocessing.get_all_start_methods() else {"spawn": {}}
)
# Mailboxes land side by side; steps that write the warehouse run one at a time (the
# writer lock in Warehouse.connect also queues any step that is not tagged).
EXECUTOR = multiprocess_executor.configured({
    "start_method": _START_METHOD,
    "tag_concurrency_limits": [{"key": k, "value": v, "limit": 1} for k, v in WRITER_TAGS.items()],
})

# Dagster's tags for a run over a range of partitions (what a single-run backfill sets).
_RANGE_START = "dagster/asset_partition_range_start"
_RANGE_END = "dagster/asset_partition_range_end"


def _end_of_graph(assets: Sequence[AssetsDefinition]) -> list[AssetKey]:
    """Keys nothing else depends on: when they are built, everything is."""
    upstream = {key for a in assets for key in a.dependency_keys}
    return [key for a in assets for key in a.keys if key not in upstream]


def refresh_targets(config: KeepwarmConfig) -> tuple[dict[str, str], list[AssetKey] | None]:
    """Run tags and asset selection that refresh everything: every mailbox, then the rest."""
    keys = ingest.mailbox_partitions(config).get_partition_keys()
    if not keys:
        # No mailbox to land; the model still builds (empty) and is published.
        return {}, [*(k for a in ALL_ASSETS for k in a.keys), SERVING, DIGEST]
    return {_RANGE_START: keys[0], _RANGE_END: keys[-1]}, None


def build_definitions(path: Path | None = None) -> Definitions:
    """Definitions for the config file at `path` (default: $KEEPWARM_CONFIG or keepwarm.yaml)."""
    path = path or config_path()
    config = load_config(path)
    landing = ingest.landing_asset(ingest.mailbox_partitions(config))
    serving = serving_asset(_end_of_graph(ALL_ASSETS))
    # The digest reads what the refresh built, last: its page and the serving copy agree.
    digest = digest_asset([SERVING])
    tags, selection = refresh_targets(config)
    status_history, history_job, daily = history.history_assets(config.history.start_date)
    snapshot_after_refresh = history.nightly_snapshot_sensor(refresh_everything, history_job,
                                                             daily)

    @schedule(
        name="nightly_refresh",
        job=refresh_everything,
        cron_schedule=config.schedule.cron,
        execution_timezone=config.schedule.timezone,
        description="Every night: land every mailbox, rebuild the model, publish.",
    )
    def nightly(context: ScheduleEvaluationContext) -> RunRequest:
        return RunRequest(tags=tags, asset_selection=selection)

    return Definitions(
        assets=[landing, *ALL_ASSETS, serving, digest, status_history, history.backtest],
        asset_checks=CHECKS,
        jobs=[refresh_everything, history_job],
        schedules=[nightly],
        sensors=[snapshot_after_refresh],
        resources={
            "settings": Settings(config_path=str(path)),
            "landing": Landing(path=config.warehouse.landing_path),
            "warehouse": Warehouse(path=config.warehouse.path,
                                   serving_path=config.warehouse.serving_path,
                                   memory_limit=config.warehouse.memory_limit),
        },
        executor=EXECUTOR,
        loggers=LOGGERS,
    )


def refresh_job(config_file: str) -> JobDefinition:
    """The refresh job for one config file, rebuilt in every step process."""
    return build_definitions(Path(config_file)).resolve_job_def(JOB_NAME)


def materialize_everything(
    config_file: Path, *, instance: DagsterInstance, parallel: bool,
    run_config: Mapping[str, Any] | None = None,
):
    """Run the whole refresh for `config_file`: every mailbox, then the model, then publish.

    Args:
        config_file: the keepwarm.yaml to run.
        instance: where the run's events go; `parallel` needs one that persists (not
            `DagsterInstance.ephemeral()`), since each step is its own process.
        parallel: land mailboxes side by side in step processes (the executor the UI and
            the schedule use); otherwise run every step in this process, one by one.
        run_config: extra run config (loggers, executor limits).

    Returns:
        The Dagster execution result; it does not raise when a step fails.
    """
    tags, selection = refresh_targets(load_config(config_file))
    if parallel:
        job = build_reconstructable_job(
            "pipelines.definitions", "refresh_job", reconstructable_args=(str(config_file),)
        )
        return execute_job(job, instance=instance, run_config=run_config, tags=tags,
                           asset_selection=selection, raise_on_error=False)
    return refresh_job(str(config_file)).execute_in_process(
        instance=instance, run_config=run_config, tags=tags, asset_selection=selection,
        raise_on_error=False,
    )


defs = build_definitions()
