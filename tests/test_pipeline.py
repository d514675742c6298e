"""The whole graph, materialised by Dagster on a small simulated network into a real file."""

from __future__ import annotations

import ast
import math
import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pytest
from dagster import AssetKey, DagsterInstance

from pipelines.cli import main as keepwarm
from pipelines.cli import print_cold_list
from pipelines.definitions import JOB_NAME, build_definitions, materialize_everything
from tests.conftest import make_config

ROOT = Path(__file__).resolve().parent.parent
SMALL_DEMO = {"demo": {"seed": 3, "months": 14, "end": "2026-06-01", "scale": 0.4}}
AS_OF = {"as_of": "2026-06-01T00:00:00Z"}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo")
    path, config = make_config(
        tmp,
        me={"addresses": ["alex@northwind.example", "alex.morgan@gmail.com"]},
        sources=SMALL_DEMO,
        status=AS_OF,
        identities={"merge": [["priya.shah@acme.example", "priyashah@gmail.com"]]},
    )
    result = materialize_everything(path, instance=DagsterInstance.ephemeral(), parallel=False)
    return path, config, result


def test_every_asset_but_the_backtest_and_every_check_succeeds(demo_run):
    # marts/backtest is left to the UI's Materialize all (tests/test_ui.py) and to its own
    # materialisation (tests/test_history.py): the refresh job does not rebuild it nightly.
    _, _, result = demo_run
    assert result.success
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert materialized == {
        AssetKey(k)
        for k in (
            ["landing", "mailboxes"],
            ["raw", "messages"],
            ["raw", "events"],
            ["raw", "quarantine"],
            ["raw", "contacts"],
            ["core", "contacts"],
            ["core", "identities"],
            ["core", "contact_people"],
            ["core", "people"],
            ["core", "actions"],
            ["core", "interactions"],
            ["marts", "contact_summaries"],
            ["marts", "contact_metrics"],
            ["marts", "relationship_status"],
            ["marts", "open_loops"],
            ["marts", "network_summary"],
            ["marts", "introductions"],
            ["marts", "key_dates"],
            ["marts", "job_changes"],
            ["marts", "status_history"],
            ["serving", "warehouse"],
            ["outputs", "digest"],
        )
    }
    landed = [e.asset_observation_data.asset_observation.metadata["mailbox"].value
              for e in result.all_events
              if e.event_type_value == "ASSET_OBSERVATION"]
    assert landed == ["demo:alex@northwind.example"]
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 2 and all(c.passed for c in checks)


def test_metadata_carries_counts_and_the_cold_list(demo_run):
    _, config, result = demo_run
    events = {
        e.asset_key.path[-1]: e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    with duckdb.connect(config.warehouse.path, read_only=True) as con:
        for table, schema in (
            ("messages", "raw"),
            ("people", "core"),
            ("relationship_status", "marts"),
        ):
            rows = con.execute(f"select count(*) from {schema}.{table}").fetchall()[0][0]
            assert events[table]["dagster/row_count"].value == rows > 0
        cold = con.execute(
            "select display_name from marts.relationship_status "
            "where status in ('cold', 'cooling') order by attention_rank"
        ).fetchall()
    preview = events["relationship_status"]["going_cold"].value
    assert cold and all(name in preview for (name,) in cold[:25])



def whole_days(value: float) -> int:
    """A column's value in whole days, halves away from zero (worked out here, not in SQL)."""
    return int(Decimal(repr(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


RHYTHM_REASON = re.compile(
    r"usually every (\d+) days; silent (\d+) days \((\d+\.\d)x that\)"
    r"(?:, over 365 days)?(?:: fewer than 1 in (\d+) of their gaps last this long)?$")


def test_every_number_in_a_reason_is_the_one_the_table_shows(demo_run, capsys):
    # For every tie: the whole days the reason states are the columns rounded half away
    # from zero, the multiple is their ratio, "fewer than 1 in N" is the status's own
    # chance (1/0.04 when cold or dormant, 1/0.1 when cooling), and the silence is at least
    # ln N usual gaps (the rhythm model's tail is never thinner than the exponential's), so
    # no figure contradicts another.
    _, config, _ = demo_run
    with duckdb.connect(config.warehouse.path, read_only=True) as con:
        ties = con.execute(
            "select status, reason, usual_gap_days, days_silent, touchpoints "
            "from marts.relationship_status").fetchall()
        # Wide enough that no reason wraps (tests/test_cli_errors.py checks 80 columns).
        print_cold_list(con, limit=1000, width=1000)
    table = capsys.readouterr().out
    rhythm_reasons = 0
    for status, reason, usual, silent, touchpoints in ties:
        if status == "new":
            assert reason.startswith("first contact "), reason
            continue
        if status == "dormant" and touchpoints < 3:
            assert reason == (f"only {touchpoints} touchpoint(s), the last "
                              f"{whole_days(silent)} days ago: never became a regular contact")
            continue
        match = RHYTHM_REASON.match(reason)
        assert match, reason
        rhythm_reasons += 1
        gap, quiet, multiple, one_in = match.groups()
        assert (int(gap), int(quiet)) == (whole_days(usual), whole_days(silent)), reason
        assert float(multiple) == pytest.approx(int(quiet) / int(gap), abs=0.05 + 1e-9)
        expected_one_in = {"cold": "25", "dormant": "25", "cooling": "10"}.get(status)
        assert one_in == expected_one_in, reason
        assert (", over 365 days" in reason) == (status == "dormant"), reason
        if one_in:
            assert silent / usual >= math.log(int(one_in)) - 0.01, reason
    assert rhythm_reasons > 20
    # The cold list prints the same whole days in its columns as in each "why:" line.
    rows = re.findall(r"^\S.*?  (\d+) d\s+(\d+) d\s*\n    why: (.*)$", table, re.MULTILINE)
    assert len(rows) == sum(status in ("cold", "cooling") for status, *_ in ties) > 0
    for gap, quiet, reason in rows:
        assert RHYTHM_REASON.match(reason).groups()[:2] == (gap, quiet), reason


def test_rerunning_changes_no_table(demo_run):
    path, config, _ = demo_run

    def snapshot():
        with duckdb.connect(config.warehouse.path, read_only=True) as con:
            return {
                t: con.execute(
                    f"select count(*), sum(hash(columns(* exclude (loaded_at)))) from {t}"
                ).fetchall()
                for t in ("raw.messages", "raw.events")
            } | {
                t: con.execute(f"select count(*), sum(hash(columns(*))) from {t}").fetchall()
                for t in ("core.interactions", "marts.contact_metrics", "marts.relationship_status")
            }

    before = snapshot()
    result = materialize_everything(path, instance=DagsterInstance.ephemeral(), parallel=False)
    assert result.success
    assert snapshot() == before
    # The simulation's parameters did not change, so nothing landed or loaded again.
    loaded = {e.asset_key.to_user_string(): e.materialization.metadata
              for e in result.get_asset_materialization_events()}
    assert loaded["landing/mailboxes"]["batches_landed"].value == 0
    assert loaded["raw/messages"]["loaded_this_run"].value == 0


def test_the_merged_contact_and_the_users_alias_resolve(demo_run):
    _, config, _ = demo_run
    with duckdb.connect(config.warehouse.path, read_only=True) as con:
        assert con.execute(
            "select n_addresses from core.people where person_id = 'priya.shah@acme.example'"
        ).fetchall() == [(2,)]
        assert con.execute(
            "select count(*) from core.people where person_id in "
            "('alex@northwind.example', 'alexmorgan@gmail.com')"
        ).fetchall() == [(0,)]
        # Nobody who only ever wrote unanswered pitches, and no newsletter, is a tie.
        assert con.execute("""
            select count(*) from marts.relationship_status s
            join raw.demo_truth t on normalize_address(t.address) = s.person_id
            where t.segment in ('outreach', 'bulk')""").fetchall() == [(0,)]


def test_definitions_schedule_and_groups():
    defs = build_definitions(ROOT / "keepwarm.yaml")
    schedule = defs.resolve_schedule_def("nightly_refresh")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone == "UTC"
    assert schedule.job_name == JOB_NAME
    groups = {
        key.to_user_string(): spec.group_name
        for key, spec in ((s.key, s) for s in defs.resolve_all_asset_specs())
    }
    assert groups == {
        "landing/mailboxes": "ingest",
        "raw/messages": "ingest",
        "raw/events": "ingest",
        "raw/quarantine": "ingest",
        "raw/contacts": "ingest",
        "core/contacts": "model",
        "core/identities": "model",
        "core/contact_people": "model",
        "core/people": "model",
        "core/actions": "model",
        "core/interactions": "model",
        "marts/contact_summaries": "metrics",
        "marts/contact_metrics": "metrics",
        "marts/relationship_status": "metrics",
        "marts/open_loops": "metrics",
        "marts/network_summary": "metrics",
        "marts/introductions": "metrics",
        "marts/key_dates": "metrics",
        "marts/job_changes": "metrics",
        "serving/warehouse": "outputs",
        "outputs/digest": "outputs",
        "marts/status_history": "history",
        "marts/backtest": "history",
    }
    # The nightly job is everything but the backtest (Materialize all builds that too):
    # nothing is partitioned, and no sensor is needed.
    job = defs.resolve_job_def(schedule.job_name)
    assert job.partitions_def is None
    assert set(job.asset_layer.selected_asset_keys) == {
        AssetKey.from_user_string(key) for key in groups if key != "marts/backtest"}
    assert not list(defs.sensors or [])


def test_the_address_book_is_read_through_core_contacts_and_core_contact_people():
    # core.contacts (each contact's latest version) comes before the identities that merge
    # its addresses, core.contact_people (whose contact) after them and before every mart
    # that reads it; Dagster orders the steps by these edges.
    graph = build_definitions(ROOT / "keepwarm.yaml").resolve_asset_graph()

    def parents(key: str) -> set[str]:
        return {k.to_user_string() for k in graph.get(AssetKey.from_user_string(key)).parent_keys}

    assert {"core/contacts"} <= parents("core/identities")
    assert {"core/contacts", "core/identities"} <= parents("core/contact_people")
    for mart in ("marts/contact_metrics", "marts/key_dates", "marts/job_changes"):
        assert "core/contact_people" in parents(mart)


def test_schedule_time_zone_comes_from_config(tmp_path):
    path, _ = make_config(tmp_path, schedule={"cron": "30 6 * * 1-5", "timezone": "Europe/Berlin"})
    schedule = build_definitions(path).resolve_schedule_def("nightly_refresh")
    assert (schedule.cron_schedule, schedule.execution_timezone) == (
        "30 6 * * 1-5",
        "Europe/Berlin",
    )


def test_cli_run_prints_the_digest_and_the_demo_score(tmp_path, capsys, monkeypatch):
    path, config = make_config(
        tmp_path, me={"addresses": ["alex@northwind.example"]}, sources=SMALL_DEMO, status=AS_OF
    )
    monkeypatch.setenv("COLUMNS", "80")
    assert keepwarm(["--config", str(path), "run", "--limit", "5"]) == 0
    out = capsys.readouterr().out
    # Everything fits 80 columns; only a path too long to break may stand alone past it.
    assert [line for line in out.splitlines() if len(line) > 80 and " " in line.strip()] == []
    assert "1. Replies you owe (" in out and "2. Going cold (" in out
    assert "why: usually every" in out and "more (keepwarm digest --all)" in out
    assert f"The page: {config.outputs.digest_path}" in " ".join(out.split())
    assert Path(config.outputs.digest_path).exists()
    assert "Demo truth:" in out and "precision" in out and "recall" in out
    assert (
        keepwarm(
            ["--config", str(path), "sql", "select count(*) as n from marts.relationship_status"]
        )
        == 0
    )
    assert "│" in capsys.readouterr().out


def test_cli_names_a_misspelt_config_key(tmp_path, capsys):
    path = tmp_path / "keepwarm.yaml"
    path.write_text("status:\n  cold_facter: 2\n")
    assert keepwarm(["--config", str(path), "run"]) == 2
    assert "status.cold_facter: unknown key (known keys: as_of," in capsys.readouterr().err


def test_connectors_import_neither_dagster_nor_duckdb():
    offenders = []
    for source in (ROOT / "connectors").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offenders += [
                f"{source.name}: {n}" for n in names if n.split(".")[0] in ("dagster", "duckdb")
            ]
    assert offenders == []


def test_the_demo_address_book_gives_key_dates_and_job_changes(demo_run):
    _, config, _ = demo_run
    with duckdb.connect(config.warehouse.path, read_only=True) as con:
        labels = con.execute("select name from raw.contact_groups order by 1").fetchall()
        movers = con.execute(
            "select count(distinct contact_key) from raw.contacts where version = 2"
        ).fetchone()[0]
        changes = con.execute(
            "select count(*) from marts.job_changes where source = 'demo'"
        ).fetchone()[0]
        priya = con.execute(
            "select count(distinct person_id) from core.identities "
            "where address in ('priya.shah@acme.example', 'priyashah@gmail.com')"
        ).fetchone()[0]
        birthdays = con.execute(
            "select count(*) from marts.key_dates where kind = 'birthday' and source = 'demo'"
        ).fetchone()[0]
    assert labels == [("Clients",), ("Family",)]
    # Every contact that changed jobs in the book is a job change of a person in mail.
    assert movers > 0 and changes == movers
    assert priya == 1
    assert birthdays > 0
