"""One Dagster instance for every entry point: where it lives, and what `keepwarm run` and
`keepwarm ui` do with it."""

from __future__ import annotations

import socket
from pathlib import Path

from dagster import DagsterRunStatus, RunsFilter

from pipelines.cli import main as keepwarm
from pipelines.cli import run_pipeline
from pipelines.instance import (
    DAGSTER_HOME_ENV,
    INSTANCE_YAML,
    dagster_home,
    prepare_dagster_home,
    project_instance,
)
from tests.conftest import make_config

SMALL_DEMO = {"demo": {"scale": 0.2, "months": 6, "end": "2026-06-01"}}


def test_the_instance_lives_beside_the_warehouse_unless_dagster_home_says(tmp_path,
                                                                           monkeypatch):
    monkeypatch.delenv(DAGSTER_HOME_ENV, raising=False)
    _, config = make_config(tmp_path, warehouse={"path": "data/keepwarm.duckdb"})
    home = prepare_dagster_home(config)
    assert home == tmp_path / "data" / "dagster"
    assert (home / "dagster.yaml").read_text() == INSTANCE_YAML
    # An edited dagster.yaml is the user's: never written over.
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: true\n")
    prepare_dagster_home(config)
    assert (home / "dagster.yaml").read_text() == "telemetry:\n  enabled: true\n"

    monkeypatch.setenv(DAGSTER_HOME_ENV, str(tmp_path / "elsewhere"))
    assert dagster_home(config) == tmp_path / "elsewhere"


def test_keepwarm_run_records_its_runs_in_the_project_instance(tmp_path, monkeypatch):
    monkeypatch.delenv(DAGSTER_HOME_ENV, raising=False)
    path, config = make_config(tmp_path, sources=SMALL_DEMO,
                               status={"as_of": "2026-06-01T00:00:00Z"})
    assert run_pipeline(path)
    assert run_pipeline(path)
    # What the UI reads: the same folder, opened afresh.
    with project_instance(config) as instance:
        runs = instance.get_runs(RunsFilter(job_name="refresh_everything"))
        assert [r.status for r in runs] == [DagsterRunStatus.SUCCESS] * 2
        assert instance.root_directory == str(tmp_path / "dagster")


def test_keepwarm_ui_says_when_its_port_is_taken(tmp_path, capsys):
    path, _ = make_config(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert keepwarm(["--config", str(path), "ui", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"cannot serve on 127.0.0.1:{port}" in err and "--port" in err
    assert Path(tmp_path / "dagster" / "dagster.yaml").exists()
