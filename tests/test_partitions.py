"""Many mailboxes: a landing step each, side by side, loaded by one writer.

Twenty simulated mailboxes run through Dagster's multiprocess executor; their landing steps
run side by side, and the warehouse they build is the one that running the mailboxes one
by one builds. The landing zone itself is tested without Dagster: a mailbox killed
half-way resumes without loss, and a replayed batch changes nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.fs as pafs
import pytest
from dagster import DagsterInstance

from assets.contacts import RAW_CONTACTS
from assets.history import BACKTEST
from assets.ingest import (
    LANDING,
    RAW_EVENTS,
    RAW_MESSAGES,
    RAW_QUARANTINE,
    RENDEZVOUS_ENV,
    configured_mailboxes,
    landing_run_config,
)
from assets.serving import SERVING
from connectors.records import Batch, Cursor
from engine.landing import LandingZone, _ObjectStore
from engine.warehouse import ensure_schema, load_landing
from pipelines.definitions import ALL_ASSETS, refresh_job
from pipelines.instance import DAGSTER_HOME_ENV, project_instance
from tests.conftest import make_config
from tests.test_warehouse import message

ROOT = Path(__file__).resolve().parent.parent
MAILBOXES = 20
DEMO = {"seed": 11, "months": 6, "end": "2026-06-01", "scale": 0.2, "mailboxes": MAILBOXES}
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
# Columns that say when a row was written, which differs between any two runs.
WRITE_TIMES = ("loaded_at", "first_seen_at", "updated_at")

# The parallel run, in a process of its own: step processes fork from a server that
# keeps the environment it started with, and the rendezvous is switched on by it.
PARALLEL_RUN = """
import sys
from pathlib import Path
from engine.config import load_config
from pipelines.definitions import materialize_everything
from pipelines.instance import project_instance
config_file = Path(sys.argv[1])
with project_instance(load_config(config_file)) as instance:
    result = materialize_everything(
        config_file, instance=instance, parallel=True,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
print(result.run_id)
"""


def team_config(folder: Path):
    folder.mkdir()
    return make_config(
        folder,
        me={"addresses": ["alex@northwind.example", "alex.morgan@gmail.com"]},
        sources={"demo": DEMO},
        status={"as_of": "2026-06-01T00:00:00Z"},
    )


def step_order(instance: DagsterInstance, run_id: str) -> list[tuple[str, str]]:
    """(event, step) for every step start and end, in the order the run logged them."""
    return [(entry.dagster_event.event_type_value, entry.dagster_event.step_key)
            for entry in instance.all_logs(run_id)
            if entry.dagster_event is not None and entry.dagster_event.step_key is not None
            and entry.dagster_event.event_type_value in ("STEP_START", "STEP_SUCCESS",
                                                         "STEP_FAILURE")]


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
    folder = tmp_path_factory.mktemp("team")
    path, config = team_config(folder / "parallel")
    rendezvous = folder / "rendezvous"
    rendezvous.mkdir()
    env = {k: v for k, v in os.environ.items() if k != DAGSTER_HOME_ENV}
    run = subprocess.run([sys.executable, "-c", PARALLEL_RUN, str(path)], cwd=ROOT,
                         env={**env, RENDEZVOUS_ENV: str(rendezvous)},
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr
    with project_instance(config) as instance:
        run_id = run.stdout.split()[-1]
        success = instance.get_run_by_id(run_id).is_success
        order = step_order(instance, run_id)
        observed = sorted(entry.asset_observation.metadata["mailbox"].value
                          for entry in instance.all_logs(run_id)
                          if entry.asset_observation is not None)
    return config, success, order, observed, sorted(p.name for p in rendezvous.iterdir())


@pytest.mark.slow
def test_twenty_mailboxes_land_side_by_side(parallel_run):
    config, success, order, observed, arrived = parallel_run
    # Each landing step waited at the rendezvous until a second one had started (or
    # failed after a minute): the run succeeds only if steps ran side by side.
    assert success
    keys = sorted(m.key for m in configured_mailboxes(config))
    assert len(keys) == MAILBOXES
    assert observed == keys
    assert len(arrived) == MAILBOXES
    landing = [step for _, step in order if ".land_mailbox[" in step]
    assert len(landing) == 2 * MAILBOXES  # a start and a success each
    # The load begins only once every mailbox has landed.
    load_starts = order.index(("STEP_START", "raw_tables"))
    assert max(n for n, (_, step) in enumerate(order) if ".land_mailbox[" in step) < load_starts


@pytest.mark.slow
def test_the_parallel_run_equals_the_mailboxes_one_by_one(parallel_run, tmp_path):
    parallel_config, success, *_ = parallel_run
    assert success
    path, config = team_config(tmp_path / "one_by_one")
    job = refresh_job(str(path))
    instance = DagsterInstance.ephemeral()
    landing = Path(config.warehouse.landing_path) / "demo"
    mailboxes = configured_mailboxes(config)
    # One mailbox at a time, named as the UI's launchpad names it: by address.
    for n, mailbox in enumerate(mailboxes, start=1):
        assert job.execute_in_process(
            instance=instance, run_config={**QUIET, **landing_run_config([mailbox.account])},
            asset_selection=[LANDING, RAW_MESSAGES, RAW_EVENTS, RAW_QUARANTINE],
        ).success
        assert len(list(landing.iterdir())) == n  # this mailbox, and only this one, landed
    # Then the rest of what the refresh job builds (the backtest is Materialize all's),
    # raw/contacts included: the address books do not come through the landing zone.
    everything_else = [k for a in ALL_ASSETS for k in a.keys
                       if (k.path[0] not in ("raw", "landing") or k == RAW_CONTACTS)
                       and k != BACKTEST]
    everything_else.append(SERVING)
    assert job.execute_in_process(instance=instance, run_config=QUIET,
                                  asset_selection=everything_else).success

    one_by_one = checksums(config.warehouse.path)
    assert checksums(parallel_config.warehouse.path) == one_by_one
    assert {"raw.messages", "core.interactions", "marts.relationship_status",
            "marts.status_history"} <= one_by_one.keys()
    with duckdb.connect(config.warehouse.path, read_only=True) as con:
        accounts = con.execute("select count(distinct account) from raw.messages").fetchall()
    assert accounts == [(MAILBOXES,)]


def test_a_run_names_its_mailboxes_by_address_or_key(tmp_path):
    path, config = team_config(tmp_path / "team")
    job = refresh_job(str(path))
    keys = [m.key for m in configured_mailboxes(config)]
    picked = [keys[3], configured_mailboxes(config)[5].account]
    result = job.execute_in_process(
        instance=DagsterInstance.ephemeral(), asset_selection=[LANDING],
        run_config={**QUIET, **landing_run_config(picked)})
    assert result.success
    (landed,) = [e.materialization.metadata for e in result.get_asset_materialization_events()]
    assert landed["mailboxes"].value == 2
    assert sorted(p.name for p in (Path(config.warehouse.landing_path) / "demo").iterdir()) \
        == sorted(k.split(":", 1)[1] for k in (keys[3], keys[5]))

    unknown = job.execute_in_process(
        instance=DagsterInstance.ephemeral(), asset_selection=[LANDING], raise_on_error=False,
        run_config={**QUIET, **landing_run_config(["nobody@nowhere.example"])})
    assert not unknown.success
    (failure,) = [e for e in unknown.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message
    assert "no mailbox nobody@nowhere.example in the config" in message
    assert keys[0] in message


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
from engine.warehouse import Warehouse
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
