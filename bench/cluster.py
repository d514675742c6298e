"""The same refresh on Celery and on the multiprocess executor: wall time and cost per step.

    .venv/bin/python bench/cluster.py [--mailboxes 20]     (bench/run.py prints it too)

Both run the demo team (deploy/try_cluster.py's config) with `keepwarm run`, on this one
machine: the multiprocess one with a local landing folder, the Celery one with the broker,
two workers and the landing zone on moto's S3 that deploy/try_cluster.py starts (issue 19).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from deploy.try_cluster import WRITER_QUEUE, Cluster, write_config  # noqa: E402


def _steps(config_file: Path) -> tuple[bool, list[float]]:
    """Whether the last run succeeded, and each of its steps' seconds (start to end)."""
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(config_file.parent / "dagster")) as instance:
        (run,) = instance.get_runs(limit=1)
        started: dict[str, float] = {}
        spans = []
        for entry in instance.all_logs(run.run_id):
            event = entry.dagster_event
            if event is None or event.step_key is None:
                continue
            if event.event_type_value == "STEP_START":
                started[event.step_key] = entry.timestamp
            elif event.event_type_value == "STEP_SUCCESS" and event.step_key in started:
                spans.append(entry.timestamp - started[event.step_key])
        return run.is_success, spans


def measure(mailboxes: int = 20, folder: Path | None = None) -> dict:
    """Wall time, steps and median step time of one refresh on each executor."""
    folder = folder or Path(tempfile.mkdtemp(prefix="keepwarm-cluster-bench-"))
    figures = {}
    with Cluster(folder / "cluster") as cluster:
        celery_file = write_config(folder / "celery", cluster, mailboxes)
        local_file = folder / "multiprocess" / "keepwarm.yaml"
        local = yaml.safe_load(celery_file.read_text())
        del local["deployment"], local["warehouse"]["landing_path"]
        local["warehouse"]["path"] = str(local_file.parent / "keepwarm.duckdb")
        local_file.parent.mkdir(parents=True)
        local_file.write_text(yaml.safe_dump(local), encoding="utf-8")
        cluster.start_worker("writer", WRITER_QUEUE, "dagster")
        cluster.start_worker("landing", "dagster", concurrency=2)
        for name, config_file in (("multiprocess", local_file), ("celery", celery_file)):
            started = time.perf_counter()
            refresh = cluster.refresh(config_file)
            wall = time.perf_counter() - started
            success, spans = _steps(config_file)
            figures[name] = {"success": refresh.returncode == 0 and success, "wall_s": wall,
                             "steps": len(spans), "median_step_s": statistics.median(spans)}
    return figures


def line(figures: dict) -> str:
    """One line for bench/run.py."""
    mp, celery = figures["multiprocess"], figures["celery"]
    if not (mp["success"] and celery["success"]):
        return f"refresh failed: {figures}"
    extra = (celery["wall_s"] - mp["wall_s"]) / celery["steps"]
    return (f"`keepwarm run`, demo team: multiprocess {mp['wall_s']:.1f} s, Celery (2 workers, "
            f"landing on S3) {celery['wall_s']:.1f} s, {celery['wall_s'] / mp['wall_s']:.2f}x; "
            f"{celery['steps']} steps, median step {mp['median_step_s']:.2f} s vs "
            f"{celery['median_step_s']:.2f} s, {extra:+.2f} s of wall time per step")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mailboxes", type=int, default=20)
    args = parser.parse_args()
    before = os.getloadavg()[0]
    print(line(measure(args.mailboxes)))
    print(f"load average (1 min) {before:.1f} before, {os.getloadavg()[0]:.1f} after")


if __name__ == "__main__":
    main()
