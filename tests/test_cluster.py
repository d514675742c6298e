"""The same code on a cluster: Celery workers, landing on S3, one writer (issue 19).

The unit tests check the deployment setting, the executor it picks, the queue the writer
steps go to, and the landing zone and the IO manager on an S3 API served by moto over real
HTTP on 127.0.0.1. The end-to-end test runs the demo team through Celery as
deploy/try_cluster.py does (docs/deploy.md).
"""

from __future__ import annotations

import logging
import pickle
import socket

import duckdb
import pyarrow.fs as pafs
import pytest
from dagster import PythonObjectDagsterType, build_input_context, build_output_context

from assets.io import SharedIOManager
from engine.config import ConfigError
from engine.landing import LandingZone, open_filesystem
from engine.warehouse import WRITER_QUEUE, WRITER_QUEUE_TAG, ensure_schema, load_landing
from pipelines.definitions import EXECUTOR, build_definitions, executor_for
from tests.conftest import make_config
from tests.test_partitions import batches

BUCKET = "keepwarm-test"


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
    assert queues["raw_tables"] == WRITER_QUEUE
    assert queues["core__interactions"] == WRITER_QUEUE
    assert queues["serving__warehouse"] == WRITER_QUEUE
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
