"""Many mailboxes: one partition each, landed side by side, loaded by one writer.

Twenty simulated mailboxes run through Dagster's multiprocess executor; their landing steps
overlap in time, and the warehouse they build is the one that running the mailboxes one
by one builds. The landing zone itself is tested without Dagster: a mailbox killed
half-way resumes without loss, and a replayed batch changes nothing.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow.fs as pafs
import pytest
from dagster import DagsterInstance

from assets.ingest import LANDING, RAW_EVENTS, RAW_MESSAGES, RAW_QUARANTINE, mailbox_partitions
from assets.serving import SERVING
from connectors.records import Batch, Cursor
from pipelines.definitions import ALL_ASSETS, materialize_everything, refresh_job
from pipelines.landing import LandingZone, _ObjectStore
from pipelines.warehouse import ensure_schema, load_landing
from tests.conftest import make_config
from tests.test_warehouse import message

ROOT = Path(__file__).resolve().parent.parent
MAILBOXES = 20
DEMO = {"seed": 11, "months": 6, "end": "2026-06-01", "scale": 0.2, "mailboxes": MAILBOXES}
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
# Columns that say when a row was written, which differs between any two runs.
WRITE_TIMES = ("loaded_at", "first_seen_at", "updated_at")


def team_config(folder: Path):
    folder.mkdir()
    return make_config(
        folder,
        me={"addresses": ["alex@northwind.example", "alex.morgan@gmail.com"]},
        sources={"demo": DEMO},
        status={"as_of": "2026-06-01T00:00:00Z"},
    )


def step_spans(instance: DagsterInstance, run_id: str) -> dict[str, tuple[float, float]]:
    started, spans = {}, {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            started[event.step_key] = entry.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            spans[event.step_key] = (started[event.step_key], entry.timestamp)
    return spans


def most_at_once(spans: list[tuple[float, float]]) -> int:
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = peak = 0
    for _, change in edges:
        running += change
        peak = max(peak, running)
    return peak


def checksums(db: str) -> dict[str, list[tuple]]:
    """Every table's row count and per-column hash sums: equal contents, in any order."""
    with duckdb.connect(db, read_only=True) as con:
        tables = con.execute(
            "select schema_name || '.' || table_name from duckdb_tables() "
            "where schema_name in ('raw', 'core', 'marts') order by 1"
        ).fetchall()
        # The build logs have a row per run, and one by one is twenty runs.
        tables.remove(("core.interaction_builds",))
        tables.remove(("marts.contact_summary_builds",))
        sums = {}
        for (table,) in tables:
            columns = [c for (c,) in con.execute(
                "select column_name from duckdb_columns() "
                "where schema_name || '.' || table_name = $t", {"t": table}).fetchall()]
            skipped = [c for c in columns if c in WRITE_TIMES]
            every = f"* exclude ({', '.join(skipped)})" if skipped else "*"
            # The loader's own position holds the landing folder's random id.
            where = "where source <> 'landing'" if table == "raw.sync_state" else ""
            sums[table] = con.execute(
                f"select count(*), sum(hash(columns({every}))) from {table} {where}"
            ).fetchall()
    return sums


@pytest.fixture(scope="module")
def parallel_run(tmp_path_factory):
    path, config = team_config(tmp_path_factory.mktemp("team") / "parallel")
    with DagsterInstance.local_temp() as instance:
        started = time.perf_counter()
        result = materialize_everything(path, instance=instance, parallel=True,
                                        run_config=QUIET)
        seconds = time.perf_counter() - started
        spans = step_spans(instance, result.run_id)
        landed = sorted(e.partition for e in result.get_asset_materialization_events()
                        if e.asset_key == LANDING)
    return config, result.success, spans, landed, seconds


@pytest.mark.slow
def test_twenty_mailboxes_land_side_by_side(parallel_run):
    config, success, spans, landed, seconds = parallel_run
    assert success
    assert landed == sorted(mailbox_partitions(config).get_partition_keys())
    assert len(landed) == MAILBOXES
    landing = [span for step, span in spans.items() if ".land_mailbox[" in step]
    assert len(landing) == MAILBOXES
    assert most_at_once(landing) >= 2, landing
    # The load begins only once every mailbox has landed.
    assert spans["raw_tables"][0] >= max(end for _, end in landing)
    print(f"20 mailboxes in parallel: {seconds:.1f} s")


@pytest.mark.slow
def test_the_parallel_run_equals_the_mailboxes_one_by_one(parallel_run, tmp_path):
    parallel_config, success, *_ = parallel_run
    assert success
    path, config = team_config(tmp_path / "one_by_one")
    job = refresh_job(str(path))
    instance = DagsterInstance.ephemeral()
    landing = Path(config.warehouse.landing_path) / "demo"
    for n, key in enumerate(mailbox_partitions(config).get_partition_keys(), start=1):
        assert job.execute_in_process(
            instance=instance, partition_key=key, run_config=QUIET,
            asset_selection=[LANDING, RAW_MESSAGES, RAW_EVENTS, RAW_QUARANTINE],
        ).success
        assert len(list(landing.iterdir())) == n  # this mailbox, and only this one, landed
    everything_else = [k for a in ALL_ASSETS for k in a.keys if k.path[0] != "raw"]
    everything_else.append(SERVING)
    assert job.execute_in_process(instance=instance, run_config=QUIET,
                                  asset_selection=everything_else).success

    one_by_one = checksums(config.warehouse.path)
    assert checksums(parallel_config.warehouse.path) == one_by_one
    assert {"raw.messages", "core.interactions", "marts.relationship_status"} <= one_by_one.keys()
    with duckdb.connect(config.warehouse.path, read_only=True) as con:
        accounts = con.execute("select count(distinct account) from raw.messages").fetchall()
    assert accounts == [(MAILBOXES,)]


# -- the landing zone, without Dagster ------------------------------------------------


def batches(keys: list[str], *, fail_after: int | None = None):
    for n, key in enumerate(keys, start=1):
        yield Batch(messages=[message(key, minute=n)],
                    cursor=Cursor("me@x.example", "mbox", "/all.mbox", {"offset": n}))
        if n == fail_after:
            raise KeyboardInterrupt("killed")


def loaded(zone: LandingZone, db: Path) -> list[tuple]:
    with duckdb.connect(str(db)) as con:
        ensure_schema(con)
        load_landing(con, zone)
        return con.execute(
            "select message_key, (select cursor from raw.sync_state where source = 'mbox') "
            "from raw.messages order by 1").fetchall()


def test_a_mailbox_killed_mid_landing_resumes_and_loads_like_a_clean_run(tmp_path):
    zone = LandingZone(str(tmp_path / "landing"))
    mailbox = zone.mailbox("files", "me@x.example")
    with pytest.raises(KeyboardInterrupt):
        mailbox.land(batches(["a", "b", "c"], fail_after=2))
    assert mailbox.committed_seqs() == [1, 2]
    assert mailbox.state().cursor("mbox", "/all.mbox") == {"offset": 2}
    # A batch whose manifest was never written is invisible, and its number is reused.
    (tmp_path / "landing" / "files" / "me@x.example" / "messages" / "00000003.parquet"
     ).write_bytes(b"half a file")
    half_way = loaded(zone, tmp_path / "w.duckdb")
    assert [key for key, _ in half_way] == ["a", "b"]

    # The resumed reader starts again from batch 2 (say its cursor was older): a replay.
    mailbox.land(batches(["b", "c"]))
    assert mailbox.committed_seqs() == [1, 2, 3, 4]
    resumed = loaded(zone, tmp_path / "w.duckdb")

    clean_zone = LandingZone(str(tmp_path / "clean"))
    clean_zone.mailbox("files", "me@x.example").land(batches(["a", "b", "c"]))
    clean = loaded(clean_zone, tmp_path / "clean.duckdb")
    assert [k for k, _ in resumed] == [k for k, _ in clean] == ["a", "b", "c"]
    # Loading again finds nothing new; a landing folder begun afresh is loaded from its start.
    assert loaded(zone, tmp_path / "w.duckdb") == resumed
    assert mailbox.land(batches([])).batches == 0


def test_a_landing_folder_begun_again_is_loaded_from_its_first_batch(tmp_path):
    db = tmp_path / "w.duckdb"
    zone = LandingZone(str(tmp_path / "landing"))
    zone.mailbox("files", "me@x.example").land(batches(["a", "b"]))
    assert len(loaded(zone, db)) == 2
    for path in sorted((tmp_path / "landing").rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    zone.mailbox("files", "me@x.example").land(batches(["z"]))
    assert [key for key, _ in loaded(zone, db)] == ["a", "b", "z"]


def test_object_storage_lands_the_same_batches(tmp_path):
    zone = LandingZone(str(tmp_path / "local"))
    zone.mailbox("files", "me@x.example").land(batches(["a", "b"]))
    # Any pyarrow filesystem: S3 and GCS take this path with an s3:// or gs:// location.
    remote = LandingZone(str(tmp_path / "remote"))
    remote.store = _ObjectStore(pafs.LocalFileSystem(), str(tmp_path / "remote"))
    remote.mailbox("files", "me@x.example").land(batches(["a", "b"]))
    assert loaded(remote, tmp_path / "r.duckdb") == loaded(zone, tmp_path / "l.duckdb")


WRITER = """
import sys, time
from pipelines.warehouse import Warehouse
with Warehouse(path=sys.argv[1], lock_timeout_s=0.1).connect() as con:
    started = time.time()
    con.execute("create table if not exists t (n int)")
    time.sleep(0.5)
    print(started, time.time(), flush=True)
"""


def test_warehouse_writers_queue_instead_of_overlapping(tmp_path):
    db = str(tmp_path / "queued.duckdb")
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, db], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    spans = []
    for writer in writers:
        out, err = writer.communicate(timeout=120)
        # Waiting on DuckDB's own lock would have failed after 0.1 s.
        assert writer.returncode == 0, err
        spans.append(tuple(map(float, out.split())))
    assert most_at_once(spans) == 1, spans
