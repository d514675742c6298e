"""Readers while writing: the serving copy opens read-only, whole and lock-free, during runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
import yaml
from dagster import DagsterInstance

from engine.config import load_config
from pipelines.cli import main as keepwarm
from pipelines.definitions import materialize_everything
from tests.conftest import make_config

ROOT = Path(__file__).resolve().parent.parent
SEEDS = [3, 5, 8, 13]
MIN_READS = 300

# Each run simulates another seed, so every table changes from one publication to the
# next and a reader that saw tables from two different runs would notice.
WRITER = """
import sys, yaml
from pathlib import Path
from dagster import DagsterInstance
from pipelines.definitions import materialize_everything
config_file = Path(sys.argv[1])
for seed in sys.argv[2:]:
    data = yaml.safe_load(config_file.read_text())
    data["sources"]["demo"]["seed"] = int(seed)
    config_file.write_text(yaml.safe_dump(data))
    result = materialize_everything(
        config_file, instance=DagsterInstance.ephemeral(), parallel=False,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
    assert result.success, f"the run with seed {seed} failed"
    print("published", seed, flush=True)
"""

# One query, so the three answers come from the file as it was when it was opened.
READ = """
select
    (select count(*) from marts.relationship_status),
    (select count(*) from marts.contact_metrics where is_tie),
    (select count(*) from core.interactions i
     where channel = 'email' and not exists (
         select 1 from raw.messages m
         where m.account = i.account and m.message_key = i.interaction_key)),
    (select min(message_key) from raw.messages)
"""


def demo_config(tmp_path: Path, seed: int) -> tuple[Path, object]:
    return make_config(
        tmp_path,
        me={"addresses": ["alex@northwind.example", "alex.morgan@gmail.com"]},
        sources={"demo": {"seed": seed, "months": 6, "end": "2026-06-01", "scale": 0.2}},
        status={"as_of": "2026-06-01T00:00:00Z"},
    )


@pytest.mark.slow
def test_readers_never_see_a_lock_error_or_a_half_built_warehouse(tmp_path):
    path, config = demo_config(tmp_path, SEEDS[0])
    assert materialize_everything(path, instance=DagsterInstance.ephemeral(),
                                  parallel=False).success
    serving = Path(config.warehouse.serving_path)
    assert serving.exists() and serving != Path(config.warehouse.path)

    # Files, not pipes: nobody drains a pipe while the test reads, and Dagster logs a lot.
    out_file, err_file = tmp_path / "writer.out", tmp_path / "writer.err"
    with out_file.open("w") as out, err_file.open("w") as err:
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), *map(str, SEEDS[1:])],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=out, stderr=err,
        )
    reads = reads_while_writing = 0
    lock_errors, missing_tables, inconsistent = [], [], []
    states: set[str] = set()
    try:
        while writer.poll() is None or reads < MIN_READS:
            writing = writer.poll() is None
            try:
                with duckdb.connect(str(serving), read_only=True) as con:
                    statuses, ties, orphans, generation = con.execute(READ).fetchall()[0]
            except duckdb.CatalogException as exc:
                missing_tables.append(str(exc))
            except duckdb.Error as exc:
                (lock_errors if "lock" in str(exc).lower() else inconsistent).append(str(exc))
            else:
                states.add(generation)
                if not (statuses == ties > 0 and orphans == 0):
                    inconsistent.append((statuses, ties, orphans))
            reads += 1
            reads_while_writing += writing
            # Leave the writer most of the CPU: the test is about overlap, not read speed.
            time.sleep(0.01)
    finally:
        writer.wait(timeout=300)
    assert writer.returncode == 0, err_file.read_text()[-3000:]
    assert out_file.read_text().split() == [
        w for seed in SEEDS[1:] for w in ("published", str(seed))
    ]
    assert lock_errors == [] and missing_tables == [] and inconsistent == []
    # The reads overlapped the runs: several publications were seen, most reads mid-run.
    assert reads_while_writing >= MIN_READS // 2, (reads, reads_while_writing)
    assert len(states) >= 3, states


def test_the_serving_copy_documents_itself_and_answers_the_cli(tmp_path, capsys):
    path, config = demo_config(tmp_path, SEEDS[0])
    assert keepwarm(["--config", str(path), "sql", "select 1"]) == 2
    assert f"run `keepwarm --config {path} run` first" in capsys.readouterr().err
    assert materialize_everything(path, instance=DagsterInstance.ephemeral(),
                                  parallel=False).success
    with duckdb.connect(config.warehouse.serving_path, read_only=True) as con:
        table_comment = con.execute(
            "select comment from duckdb_tables() "
            "where schema_name = 'marts' and table_name = 'relationship_status'"
        ).fetchall()
        uncommented = con.execute(
            "select count(*) from duckdb_columns() "
            "where schema_name in ('raw', 'core', 'marts') and comment is null"
        ).fetchall()
        macro = con.execute("select normalize_address('Priya.Shah+x@GoogleMail.com')").fetchall()
    assert table_comment[0][0] and uncommented == [(0,)]
    assert macro == [("priyashah@gmail.com",)]

    # Held read-write, the warehouse itself is out of reach; the serving copy is not.
    with duckdb.connect(config.warehouse.path):
        assert keepwarm(["--config", str(path), "cold", "--limit", "3"]) == 0
    assert "Going cold:" in capsys.readouterr().out

    # A warehouse from before serving copies existed is still readable, with a word why.
    Path(config.warehouse.serving_path).unlink()
    assert keepwarm(["--config", str(path), "sql", "select count(*) from raw.messages"]) == 0
    assert "no serving copy" in capsys.readouterr().err


def test_serving_path_defaults_beside_the_warehouse_and_can_be_set(tmp_path):
    _, config = make_config(tmp_path)
    assert Path(config.warehouse.serving_path) == tmp_path / "keepwarm.serving.duckdb"
    assert Path(config.warehouse.landing_path) == tmp_path / "landing"
    (tmp_path / "other").mkdir()
    custom = tmp_path / "other" / "keepwarm.yaml"
    custom.write_text(yaml.safe_dump({"warehouse": {"path": "w.duckdb",
                                                    "serving_path": "readers/w.duckdb"}}))
    loaded = load_config(custom)
    assert Path(loaded.warehouse.serving_path) == tmp_path / "other" / "readers" / "w.duckdb"
