"""The Dagster UI, driven the way a browser drives it: `keepwarm ui`, then GraphQL.

One server for the module, started by the real command on a small demo config. Its
*Materialize all* and its nightly schedule each launch one run that materialises every
asset and succeeds; a run made by `keepwarm run` shows in its run list.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC
from pathlib import Path

import duckdb
import pytest

from pipelines.cli import run_pipeline
from pipelines.instance import DAGSTER_HOME_ENV
from tests.conftest import make_config

ROOT = Path(__file__).resolve().parent.parent
DEMO = {"demo": {"scale": 0.2, "months": 6}}
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}

GRAPH = """
{
  assetNodes { assetKey { path } groupName }
  repositoriesOrError {
    ... on RepositoryConnection { nodes { schedules { name cronSchedule executionTimezone } } }
  }
}
"""

# What the UI's Materialize button loads about the assets in scope before it launches
# (LaunchAssetExecutionButton in Dagster's UI: LaunchAssetLoaderQuery).
LAUNCH_ASSET_LOADER = """
query ($assetKeys: [AssetKeyInput!]!) {
  assetNodes(assetKeys: $assetKeys) {
    assetKey { path }
    jobNames
    isExecutable
    isObservable
    partitionDefinition { description }
    configField { isRequired }
    repository { name location { name } }
    assetChecksOrError { ... on AssetChecks { checks { name jobNames } } }
  }
  assetNodeAdditionalRequiredKeys(assetKeys: $assetKeys) { path }
}
"""

LAUNCH = """
mutation ($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
  }
}
"""

SCHEDULE_DRY_RUN = """
mutation ($selector: ScheduleSelector!, $timestamp: Float) {
  scheduleDryRun(selectorData: $selector, timestamp: $timestamp) {
    __typename
    ... on PythonError { message }
    ... on DryRunInstigationTick {
      evaluationResult {
        runRequests { runConfigYaml tags { key value } assetSelection { path } jobName }
        skipReason
        error { message }
      }
    }
  }
}
"""

RUN = """
query ($runId: ID!) {
  runOrError(runId: $runId) {
    ... on Run {
      status
      stepStats { stepKey status }
    }
  }
}
"""

RUNS = """
{
  runsOrError {
    ... on Runs { results { runId status jobName tags { key value } } }
  }
}
"""

MATERIALIZATIONS = """
{
  assetNodes {
    assetKey { path }
    assetMaterializations(limit: 1) {
      runId
      metadataEntries {
        label
        __typename
        ... on TextMetadataEntry { text }
        ... on IntMetadataEntry { intValue }
        ... on FloatMetadataEntry { floatValue }
        ... on MarkdownMetadataEntry { mdStr }
      }
    }
  }
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.load(response)
    assert "errors" not in answer, answer["errors"]
    return answer["data"]


def wait_for_run(port: int, run_id: str, timeout_s: float = 600) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = graphql(port, RUN, {"runId": run_id})["runOrError"]
        if run["status"] in FINISHED:
            return run
        time.sleep(1)
    raise AssertionError(f"run {run_id} still {run['status']} after {timeout_s} s")


def materialize_all(port: int) -> str:
    """Press *Materialize all* on the global asset graph: what the UI does, step by step."""
    keys = [n["assetKey"] for n in graphql(port, GRAPH)["assetNodes"]]
    loaded = graphql(port, LAUNCH_ASSET_LOADER, {"assetKeys": keys})
    assets = loaded["assetNodes"]
    # The UI opens a dialog instead of launching when any of these holds.
    assert loaded["assetNodeAdditionalRequiredKeys"] == []
    assert [a["assetKey"] for a in assets if a["partitionDefinition"]] == []
    assert [a["assetKey"] for a in assets if (a["configField"] or {}).get("isRequired")] == []
    assert all(a["isExecutable"] and not a["isObservable"] for a in assets)
    # One job every asset is in (the UI takes the first), one run of it for the lot.
    in_common = [j for j in assets[0]["jobNames"] if all(j in a["jobNames"] for a in assets)]
    assert in_common
    repository = assets[0]["repository"]
    checks = [{"name": c["name"], "assetKey": a["assetKey"]} for a in assets
              for c in a["assetChecksOrError"]["checks"] if in_common[0] in c["jobNames"]]
    params = {
        "mode": "default",
        "executionMetadata": {"tags": []},
        "runConfigData": "{}",
        "selector": {
            "repositoryLocationName": repository["location"]["name"],
            "repositoryName": repository["name"],
            "pipelineName": in_common[0],
            "assetSelection": [{"path": a["assetKey"]["path"]} for a in assets],
            "assetCheckSelection": checks,
        },
    }
    launched = graphql(port, LAUNCH, {"executionParams": params})["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def launch_schedule(port: int, name: str) -> str:
    """Evaluate the schedule in the code server as the daemon does, and launch its request
    (the UI's "Test schedule" dialog does the same)."""
    repository = graphql(port, "{ repositoriesOrError { ... on RepositoryConnection "
                               "{ nodes { name location { name } } } } }")
    repo = repository["repositoriesOrError"]["nodes"][0]
    selector = {"repositoryLocationName": repo["location"]["name"],
                "repositoryName": repo["name"], "scheduleName": name}
    tick = graphql(port, SCHEDULE_DRY_RUN,
                   {"selector": selector, "timestamp": time.time()})["scheduleDryRun"]
    assert tick["__typename"] == "DryRunInstigationTick", tick
    evaluation = tick["evaluationResult"]
    assert evaluation["error"] is None and evaluation["skipReason"] is None, evaluation
    (request,) = evaluation["runRequests"]
    job = request["jobName"] or "refresh_everything"
    tags = [*request["tags"], {"key": "dagster/schedule_name", "value": name}]
    params = {
        "mode": "default",
        "executionMetadata": {"tags": tags},
        "runConfigData": request["runConfigYaml"],
        "selector": {
            "repositoryLocationName": selector["repositoryLocationName"],
            "repositoryName": selector["repositoryName"],
            "pipelineName": job,
            "assetSelection": request["assetSelection"],
        },
    }
    launched = graphql(port, LAUNCH, {"executionParams": params})["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def latest_materializations(port: int) -> dict[str, dict]:
    return {"/".join(n["assetKey"]["path"]): n["assetMaterializations"][0]
            if n["assetMaterializations"] else None
            for n in graphql(port, MATERIALIZATIONS)["assetNodes"]}


def metadata(materialization: dict) -> dict:
    values = ("text", "intValue", "floatValue", "mdStr")
    return {e["label"]: next((e[v] for v in values if v in e), None)
            for e in materialization["metadataEntries"]}


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """`keepwarm ui` on a small demo, its instance in the default place beside the warehouse."""
    tmp = tmp_path_factory.mktemp("ui")
    config_path, config = make_config(
        tmp, me={"addresses": ["alex@northwind.example", "alex.morgan@gmail.com"]},
        sources=DEMO, history={"look_back_days": 30})
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != DAGSTER_HOME_ENV}
    log = (tmp / "ui.log").open("w")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "keepwarm"), "--config", str(config_path), "ui",
         "--port", str(port)],
        cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and server.poll() is None:
            try:
                if graphql(port, GRAPH)["assetNodes"]:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail(f"the UI did not come up: {(tmp / 'ui.log').read_text()}")
        yield port, config_path, config
    finally:
        server.terminate()  # keepwarm ui hands it on to dg, which stops what it started
        try:
            server.wait(timeout=60)
        finally:
            # Its code server would stop by itself once its heartbeat ends: don't wait.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            log.close()


@pytest.mark.slow
def test_the_ui_serves_five_groups_and_the_nightly_schedule(ui):
    port, _, config = ui
    data = graphql(port, GRAPH)
    groups = {"/".join(n["assetKey"]["path"]): n["groupName"] for n in data["assetNodes"]}
    assert groups["landing/mailboxes"] == "ingest"
    assert groups["raw/messages"] == "ingest"
    assert groups["core/interactions"] == "model"
    assert groups["marts/relationship_status"] == "metrics"
    assert groups["marts/status_history"] == groups["marts/backtest"] == "history"
    assert groups["serving/warehouse"] == "outputs"
    assert set(groups.values()) == {"ingest", "model", "metrics", "history", "outputs"}
    schedules = [s for repo in data["repositoriesOrError"]["nodes"] for s in repo["schedules"]]
    assert schedules == [
        {"name": "nightly_refresh", "cronSchedule": "0 2 * * *", "executionTimezone": "UTC"}
    ]
    # The instance is the project's, beside the warehouse, with the dagster.yaml it wrote.
    home = Path(config.warehouse.path).parent / "dagster"
    assert "telemetry:\n  enabled: false" in (home / "dagster.yaml").read_text()


@pytest.mark.slow
def test_materialize_all_is_one_run_that_builds_every_asset(ui):
    port, _, config = ui
    run_id = materialize_all(port)
    run = wait_for_run(port, run_id)
    failed = [s["stepKey"] for s in run["stepStats"] if s["status"] != "SUCCESS"]
    assert run["status"] == "SUCCESS", failed
    runs = graphql(port, RUNS)["runsOrError"]["results"]
    assert [r["runId"] for r in runs] == [run_id]  # one run, no backfill of several

    latest = latest_materializations(port)
    assert {key: m["runId"] if m else None for key, m in latest.items()} == {
        key: run_id for key in latest
    }
    # Metadata functions ran, and say things in the units a reader expects.
    summary = metadata(latest["marts/network_summary"])["summary"]
    with duckdb.connect(config.warehouse.serving_path, read_only=True) as con:
        people, as_of = con.execute("select people, as_of from marts.network_summary").fetchone()
    assert f"| people | {people} |" in summary  # a count, not 243.0
    assert f"| as_of | {as_of.astimezone(UTC):%Y-%m-%d %H:%M} UTC |" in summary
    history = metadata(latest["marts/status_history"])
    assert history["days_filled_this_run"] == history["days_held"] == 30
    assert "per_month" in metadata(latest["marts/backtest"])
    landing = metadata(latest["landing/mailboxes"])
    assert landing["mailboxes"] == 1 and landing["messages"] > 0


@pytest.mark.slow
def test_the_nightly_schedule_launches_a_run_that_succeeds(ui):
    port, _, _ = ui
    run_id = launch_schedule(port, "nightly_refresh")
    run = wait_for_run(port, run_id)
    assert run["status"] == "SUCCESS", run["stepStats"]
    steps = {s["stepKey"] for s in run["stepStats"]}
    assert {"raw_tables", "marts__status_history", "serving__warehouse",
            "outputs__digest"} <= steps and "marts__backtest" not in steps


@pytest.mark.slow
def test_a_run_made_by_keepwarm_run_shows_in_the_ui(ui, monkeypatch):
    port, config_path, _ = ui
    monkeypatch.delenv(DAGSTER_HOME_ENV, raising=False)
    before = {r["runId"] for r in graphql(port, RUNS)["runsOrError"]["results"]}
    assert run_pipeline(config_path)
    after = graphql(port, RUNS)["runsOrError"]["results"]
    new = [r for r in after if r["runId"] not in before]
    assert [(r["jobName"], r["status"]) for r in new] == [("refresh_everything", "SUCCESS")]
