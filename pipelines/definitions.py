"""The code location: assets, checks, resources, the job, its executor and the schedule."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dagster import (
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    DagsterInstance,
    Definitions,
    ExecutorDefinition,
    JobDefinition,
    ScheduleDefinition,
    build_reconstructable_job,
    define_asset_job,
    execute_job,
    multiprocess_executor,
)

from assets import contacts, history, ingest, model
from assets.digest import digest_asset
from assets.io import SharedIOManager
from assets.resources import Landing, Settings, WarehouseResource
from assets.serving import SERVING, serving_asset
from engine.config import KeepwarmConfig, config_path, load_config
from engine.warehouse import WRITER_QUEUE_TAG, WRITER_TAGS
from pipelines.checks import CHECKS
from pipelines.progress import LOGGERS

# Every asset but the outputs: serving/warehouse is published once they are all built, and
# outputs/digest reads what it published, last. None is partitioned, so the whole graph is
# one run: the nightly schedule, the UI's "Materialize all" and `keepwarm run` alike.
ALL_ASSETS = [
    ingest.landing,
    ingest.raw_tables,
    contacts.raw_contacts,
    model.contacts,
    model.identities,
    model.contact_people,
    model.people,
    model.actions,
    model.interactions,
    model.contact_summaries,
    model.contact_metrics,
    model.relationship_status,
    model.network_summary,
    model.open_loops,
    model.introductions,
    model.key_dates,
    model.job_changes,
    history.status_history,
    history.backtest,
]

JOB_NAME = "refresh_everything"

# Every asset but marts/backtest: it recomputes the statuses as of 26 past dates, most of
# a nightly run's time on a large store (47 of 58 s at a million messages) for a figure
# that changes slowly. The UI's "Materialize all" (every asset, one run) builds it too.
refresh_everything = define_asset_job(
    JOB_NAME,
    selection=AssetSelection.all() - AssetSelection.assets(history.backtest),
    description="Land every mailbox in parallel, load raw.*, rebuild the model and metrics, "
    "fill the days of status history missing, publish the serving copy, write the digest.",
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


def send_step_output_to(log_file: Path) -> None:
    """Start the forkserver that step processes fork from with its stderr on `log_file`.

    A step process prints Dagster's own DEBUG lines (STEP_WORKER_STARTED, ...) to stderr
    before the run's logger config applies to it, so a quiet `keepwarm run` over several
    mailboxes would scroll them over its progress bars. The events still reach the run's
    log; only the console copy goes to the file. Nothing happens where the forkserver is
    not used or already runs (it keeps the stderr it started with).
    """
    if "forkserver" not in _START_METHOD:
        return
    from multiprocessing import forkserver

    # The preload the multiprocess executor would ask for, so steps still start warm.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["dagster._core.executor.multiprocess", *_PRELOADED])
    log_file.parent.mkdir(parents=True, exist_ok=True)
    saved = os.dup(2)
    try:
        with log_file.open("wb") as log:  # this run's, not every run's
            os.dup2(log.fileno(), 2)
            forkserver.ensure_running()
    finally:
        os.dup2(saved, 2)
        os.close(saved)


# Mailboxes land side by side; steps that write the warehouse run one at a time (the
# writer lock in Warehouse.connect also queues any step that is not tagged).
EXECUTOR = multiprocess_executor.configured({
    "start_method": _START_METHOD,
    "tag_concurrency_limits": [{"key": k, "value": v, "limit": 1} for k, v in WRITER_TAGS.items()
                               if k != WRITER_QUEUE_TAG],
})


def executor_for(config: KeepwarmConfig) -> ExecutorDefinition:
    """The executor `deployment.executor` names: the one above, or Celery (docs/deploy.md).

    On Celery the writer steps carry the `dagster-celery/queue: keepwarm-writer` tag
    (WRITER_TAGS), so only the worker started with `-q keepwarm-writer` runs them: one
    worker, beside the DuckDB file, so they run one at a time as they do here.
    """
    deployment = config.deployment
    if deployment.executor == "multiprocess":
        return EXECUTOR
    from dagster_celery import celery_executor  # only a Celery deployment imports Celery

    return celery_executor.configured({
        "broker": deployment.broker,
        **({"backend": deployment.backend} if deployment.backend else {}),
    })


def _end_of_graph(assets: Sequence[AssetsDefinition]) -> list[AssetKey]:
    """Keys nothing else depends on: when they are built, everything is."""
    upstream = {key for a in assets for key in a.dependency_keys}
    return [key for a in assets for key in a.keys if key not in upstream]


def build_definitions(path: Path | None = None) -> Definitions:
    """Definitions for the config file at `path` (default: $KEEPWARM_CONFIG or keepwarm.yaml)."""
    path = path or config_path()
    config = load_config(path)
    nightly = ScheduleDefinition(
        name="nightly_refresh",
        job=refresh_everything,
        cron_schedule=config.schedule.cron,
        execution_timezone=config.schedule.timezone,
        description="Every night: land every mailbox, rebuild everything, publish.",
    )
    return Definitions(
        assets=[*ALL_ASSETS, serving_asset(_end_of_graph(ALL_ASSETS)),
                # The digest reads what the refresh built, last: its page and the serving
                # copy agree.
                digest_asset([SERVING])],
        asset_checks=CHECKS,
        jobs=[refresh_everything],
        schedules=[nightly],
        resources={
            "settings": Settings(config_path=str(path)),
            **({"io_manager": SharedIOManager(base=config.deployment.io_path)}
               if config.deployment.io_path else {}),
            "landing": Landing(path=config.warehouse.landing_path),
            "warehouse": WarehouseResource(path=config.warehouse.path,
                                   serving_path=config.warehouse.serving_path,
                                   memory_limit=config.warehouse.memory_limit),
        },
        executor=executor_for(config),
        loggers=LOGGERS,
    )


def refresh_job(config_file: str) -> JobDefinition:
    """The refresh job for one config file, rebuilt in every step process."""
    return build_definitions(Path(config_file)).resolve_job_def(JOB_NAME)


def materialize_everything(
    config_file: Path, *, instance: DagsterInstance, parallel: bool,
    run_config: Mapping[str, Any] | None = None, mailboxes: Sequence[str] = (),
):
    """Run the whole refresh for `config_file`: every mailbox, then the model, then publish.

    Args:
        config_file: the keepwarm.yaml to run.
        instance: where the run's events go; `parallel` needs one that persists (not
            `DagsterInstance.ephemeral()`), since each step is its own process.
        parallel: land mailboxes side by side in step processes (the executor the UI and
            the schedule use); otherwise run every step in this process, one by one.
        run_config: extra run config (loggers, executor limits).
        mailboxes: land only these (addresses or `kind:address` keys); empty: all of them.

    Returns:
        The Dagster execution result; it does not raise when a step fails.
    """
    run_config = {**(run_config or {}), **ingest.landing_run_config(mailboxes)}
    if parallel:
        job = build_reconstructable_job(
            "pipelines.definitions", "refresh_job", reconstructable_args=(str(config_file),)
        )
        return execute_job(job, instance=instance, run_config=run_config, raise_on_error=False)
    return refresh_job(str(config_file)).execute_in_process(
        instance=instance, run_config=run_config, raise_on_error=False,
    )


defs = build_definitions()
