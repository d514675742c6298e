"""The Dagster UI serves the asset graph, grouped by layer, with the nightly schedule."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import make_config

ROOT = Path(__file__).resolve().parent.parent

QUERY = """
{
  assetNodes { assetKey { path } groupName }
  repositoriesOrError {
    ... on RepositoryConnection { nodes { schedules { name cronSchedule executionTimezone } } }
  }
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["data"]


@pytest.mark.slow
def test_webserver_serves_the_asset_graph(tmp_path):
    config_path, _ = make_config(tmp_path, sources={"demo": {"scale": 0.2, "months": 6}})
    port = free_port()
    env = {
        **os.environ,
        "KEEPWARM_CONFIG": str(config_path),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }
    (tmp_path / "dagster_home").mkdir()
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster-webserver"),
            "-w",
            "workspace.yaml",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 90
        data = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                data = graphql(port, QUERY)
                if data["assetNodes"]:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert data is not None, server.stderr.read().decode() if server.poll() else "timeout"
        groups = {"/".join(n["assetKey"]["path"]): n["groupName"] for n in data["assetNodes"]}
        assert groups["landing/mailboxes"] == "ingest"
        assert groups["raw/messages"] == "ingest"
        assert groups["core/interactions"] == "model"
        assert groups["marts/relationship_status"] == "metrics"
        assert groups["serving/warehouse"] == "outputs"
        schedules = [s for repo in data["repositoriesOrError"]["nodes"] for s in repo["schedules"]]
        assert schedules == [
            {"name": "nightly_refresh", "cronSchedule": "0 2 * * *", "executionTimezone": "UTC"}
        ]
    finally:
        server.terminate()
        server.wait(timeout=30)
