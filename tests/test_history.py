"""Statuses as of past dates: daily snapshots, and the cold rule backtested on them."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
from dagster import materialize

from assets.history import (
    BACKTEST,
    STATUS_HISTORY,
    backtest,
    end_of_day,
    missing_days,
    run_backtest,
    snapshot_day,
    snapshot_days,
    snapshot_query,
    status_history,
    statuses_as_of,
)
from assets.resources import Settings, WarehouseResource
from connectors.records import Batch
from engine.warehouse import apply_batch, ensure_schema
from pipelines.definitions import JOB_NAME, build_definitions
from tests.conftest import make_config, rebuild_model
from tests.crafted import AS_OF, ME, mail

ROOT = Path(__file__).resolve().parent.parent


def at(days_before: float, hour: int = 9) -> datetime:
    return AS_OF - timedelta(days=days_before) + timedelta(hours=hour)


def every_five_days(person: str, first: int, last: int) -> list:
    """An exchange (the user writes at 09:00, they answer at 10:00) every 5 days."""
    messages = []
    for d in range(first, last - 1, -5):
        messages += [mail(ME, [person], at(d)), mail(person, [ME], at(d, 10))]
    return messages


def test_statuses_as_of_equal_a_model_built_then_and_leave_the_marts_alone(model, tmp_path):
    messages = every_five_days("a@x.example", 200, 100) + every_five_days("b@x.example", 150, 20)
    con = model(messages)
    now = con.execute("select person_id, status, tie_strength "
                      "from marts.relationship_status order by 1").fetchall()
    past = AS_OF - timedelta(days=60)
    _, config = make_config(tmp_path, me={"addresses": [ME]})
    snapshot = pl.from_arrow(statuses_as_of(con, config.model_params(), past)).sort("person_id")

    assert con.execute("select person_id, status, tie_strength "
                       "from marts.relationship_status order by 1").fetchall() == now
    # Independently: the whole model rebuilt with the past as-of time.
    _, config_then = make_config(tmp_path, me={"addresses": [ME]},
                                 status={"as_of": past.isoformat()})
    rebuild_model(con, config_then)
    then = con.execute("select person_id, status, tie_strength, days_silent "
                       "from marts.relationship_status order by 1").fetchall()
    assert snapshot.select("person_id", "status", "tie_strength", "days_silent").rows() == then
    # a stopped 100 days before AS_OF: 40 days silent then, after 5-day gaps.
    assert then[0][:2] == ("a@x.example", "cold")


def test_a_day_is_snapshot_once_however_often_it_is_run(model, tmp_path):
    con = model(every_five_days("a@x.example", 60, 10))
    _, config = make_config(tmp_path, me={"addresses": [ME]})
    day = date(2026, 5, 1)
    assert snapshot_day(con, config.model_params(), day) == 1
    assert snapshot_day(con, config.model_params(), day) == 1
    snapshot_day(con, config.model_params(), day + timedelta(days=1))
    rows = con.execute("select snapshot_date, person_id, days_silent "
                       "from marts.status_history order by 1").fetchall()
    # End of 1 May: the last exchange was 27 April (35 days before AS_OF), answered at
    # 10:00 -> 4 days 14 hours. End of 2 May: the 2 May exchange, answered at 10:00 -> 14 h.
    assert rows == [(day, "a@x.example", 4.6), (day + timedelta(days=1), "a@x.example", 0.6)]
    assert end_of_day(day) == datetime.fromisoformat("2026-05-02T00:00:00+00:00")


def test_a_year_of_snapshots_in_chains_equals_one_whole_rebuild_a_day(model, tmp_path,
                                                                      monkeypatch):
    # Snapshots are computed in chains that move the summaries forward incrementally; each
    # must equal the statuses rebuilt whole as of its day (statuses_as_of, itself checked
    # against a model built then above). Ties start, pause, stop and begin inside the
    # range, so people enter the history and cross the 30/90/365-day windows between
    # snapshots; a group message makes a rhythm of personal contact only.
    messages = (every_five_days("a@x.example", 200, 100)
                + every_five_days("b@x.example", 400, 100)
                + every_five_days("b@x.example", 75, 10)
                + every_five_days("c@x.example", 60, 30)
                + [mail(ME, ["c@x.example", "d@x.example"], at(45, 11))])
    con = model(messages)
    _, config = make_config(tmp_path, me={"addresses": [ME]},
                            status={"as_of": AS_OF.isoformat()})
    params = config.model_params()
    now = con.execute("from marts.relationship_status order by person_id").fetchall()
    days = ([date(2026, 1, 4) + timedelta(weeks=n) for n in range(16)]
            + [date(2026, 4, 27) + timedelta(days=n) for n in range(35)])
    # Four people: chains of two days, so a chain's first day is rebuilt whole 26 times
    # and moved forward 25 times.
    monkeypatch.setattr("assets.history._CHAIN_PERSON_MOMENTS", 8)
    assert list(snapshot_days(con, params, days)) == days

    chained = con.sql("select * exclude (snapshot_date), snapshot_date as day "
                      "from marts.status_history").pl()
    whole = pl.concat(
        pl.from_arrow(statuses_as_of(con, params, end_of_day(day)))
        .select(chained.columns[:-1]).with_columns(day=pl.lit(day))
        for day in days)
    key = ["day", "person_id"]
    assert whole.height == chained.height > 100
    assert whole.sort(key).equals(chained.select(whole.columns).sort(key))
    assert set(chained["status"]) >= {"active", "cold"}
    assert con.execute("from marts.relationship_status order by person_id").fetchall() == now


def test_a_run_stopped_half_way_keeps_the_days_it_committed(model, tmp_path, monkeypatch):
    # Snapshots are committed a few days at a time: each day yielded is committed, and a
    # run stopped after the first yield keeps that group of days and nothing after it.
    con = model(every_five_days("a@x.example", 60, 10))
    _, config = make_config(tmp_path, me={"addresses": [ME]})
    monkeypatch.setattr("assets.history._DAYS_PER_COMMIT", 2)
    days = [date(2026, 5, 1) + timedelta(days=n) for n in range(5)]
    run = snapshot_days(con, config.model_params(), days)
    assert next(run) == days[0]
    run.close()
    held = con.execute("select distinct snapshot_date from marts.status_history "
                       "order by 1").fetchall()
    assert held == [(days[0],), (days[1],)]
    # The rest, run again: every day once, the first two as they were.
    assert list(snapshot_days(con, config.model_params(), days[2:])) == days[2:]
    rows = con.execute("select snapshot_date, days_silent from marts.status_history "
                       "order by 1").fetchall()
    # Contact every 5 days at 09:00/10:00 from 60 days before AS_OF (31 May): 27 April,
    # 2 May, 7 May; end of 1 May -> 4.6 days silent, end of 2 May -> 0.6.
    assert rows == [(days[0], 4.6), (days[1], 0.6), (days[2], 1.6), (days[3], 2.6),
                    (days[4], 3.6)]


def test_the_snapshot_query_is_the_status_files_own_or_none(tmp_path):
    query = snapshot_query(ROOT / "assets" / "sql" / "marts" / "relationship_status.sql")
    assert query.startswith("select person_id, status, ") and "$cold_probability" in query
    bad = tmp_path / "bad.sql"
    for text in ("select 1;\n", "set threads = 1;\ncreate or replace table t as\nselect 1;\n",
                 "create or replace table t as\nselect 1;\ndelete from t;\n"):
        bad.write_text(text)
        with pytest.raises(ValueError, match=r"bad\.sql"):
            snapshot_query(bad)


def test_backtest_by_hand(model, tmp_path):
    # Cadences fix when each tie is called cold (past 15 days for a 10-day cadence), so
    # the outcome of every silence can be worked out:
    #  a stops 100 days before AS_OF: cold at every snapshot, silent past the lapse point
    #    (max(60 days, 4 x 5-day gap) = 60 days)                       -> flagged, lapsed
    #  b pauses from day 100 to day 75 (cold at the day-80 snapshot), then writes again
    #    every 5 days: the day-60 and day-40 snapshots see short silences -> a false alarm
    #    and two unremarkable silences
    #  c (a 100-day cadence) stops at day 110: never cold, but lapsed     -> missed
    messages = (every_five_days("a@x.example", 200, 100)
                + every_five_days("b@x.example", 200, 100)
                + every_five_days("b@x.example", 75, 10)
                + every_five_days("c@x.example", 200, 110))
    con = model(messages)
    _, config = make_config(
        tmp_path, me={"addresses": [ME]},
        status={"as_of": AS_OF.isoformat(),
                "cadence": {"a@x.example": 10, "b@x.example": 10, "c@x.example": 100}})
    run_backtest(con, config.model_params(),
                 [AS_OF - timedelta(days=d) for d in (40, 60, 80)])
    totals = con.execute("""
        select sum(silences), sum(flagged_cold), sum(lapsed), sum(flagged_and_lapsed)
        from marts.backtest""").fetchall()
    assert totals == [(5, 2, 2, 1)]
    february = con.execute(
        "select silences, flagged_cold, lapsed, flagged_and_lapsed, precision, recall "
        "from marts.backtest where month = '2026-02-01'").fetchall()
    assert february == [(3, 2, 2, 1, 0.5, 0.5)]


def crafted_warehouse(tmp_path, messages, **sections):
    """A warehouse with `messages` loaded and the model built as of AS_OF."""
    sections = {"me": {"addresses": [ME]}, "status": {"as_of": AS_OF.isoformat()}, **sections}
    path, config = make_config(tmp_path, **sections)
    with duckdb.connect(config.warehouse.path) as con:
        ensure_schema(con)
        apply_batch(con, Batch(messages=messages))
        rebuild_model(con, config)
    return path, config


def materialize_alone(asset, path, config):
    """Materialise one asset as the job does, through Dagster, metadata function included."""
    result = materialize(
        [asset], resources={"settings": Settings(config_path=str(path)),
                            "warehouse": WarehouseResource(path=config.warehouse.path)})
    assert result.success
    (event,) = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_status_history_fills_the_days_it_lacks_and_only_those(tmp_path):
    # Contact from 60 to 10 days before AS_OF (1 June 2026); a ten-day look-back.
    path, config = crafted_warehouse(tmp_path, every_five_days("a@x.example", 60, 10),
                                     history={"look_back_days": 10})
    first = materialize_alone(status_history, path, config)
    # The last full day before AS_OF is 31 May; ten days back from it is 22 May.
    assert first["days_filled_this_run"] == first["days_held"] == 10
    assert (first["first_day"], first["last_day"]) == ("2026-05-22", "2026-05-31")
    assert first["dagster/row_count"] == 10  # one tie, ten days
    assert first["last_day/active"] == 1
    again = materialize_alone(status_history, path, config)
    assert again["days_filled_this_run"] == 0 and again["days_held"] == 10

    # Two days later (as the nightly run sees it), the two days since are filled.
    later, config_later = make_config(
        tmp_path, me={"addresses": [ME]}, history={"look_back_days": 10},
        status={"as_of": (AS_OF + timedelta(days=2)).isoformat()})
    moved = materialize_alone(status_history, later, config_later)
    assert moved["days_filled_this_run"] == 2
    assert (moved["first_day"], moved["last_day"]) == ("2026-05-22", "2026-06-02")
    with duckdb.connect(config.warehouse.path, read_only=True) as con:
        days = con.execute("select snapshot_date, count(*) from marts.status_history "
                           "group by 1 order by 1").fetchall()
    assert [d for d, _ in days] == [date(2026, 5, 22) + timedelta(days=n) for n in range(12)]
    assert {n for _, n in days} == {1}


def test_status_history_starts_at_the_first_contact_and_at_start_date(tmp_path):
    # First contact 20 days before AS_OF (12 May, 09:00): no snapshot before that day.
    _, config = crafted_warehouse(tmp_path, every_five_days("a@x.example", 20, 10),
                                  history={"look_back_days": 365})
    with duckdb.connect(config.warehouse.path) as con:
        assert missing_days(con, config) == [date(2026, 5, 12) + timedelta(days=n)
                                             for n in range(20)]
    _, bounded = make_config(tmp_path, me={"addresses": [ME]},
                             status={"as_of": AS_OF.isoformat()},
                             history={"look_back_days": 365, "start_date": "2026-05-29"})
    with duckdb.connect(config.warehouse.path) as con:
        assert missing_days(con, bounded) == [date(2026, 5, 29), date(2026, 5, 30),
                                              date(2026, 5, 31)]


def test_status_history_is_daily_for_five_weeks_and_weekly_before(tmp_path):
    # First contact 100 days before AS_OF (21 February, a Saturday); a year's look-back.
    # The last full day, 31 May, is a Sunday; the 35 days from 27 April on are daily, and
    # before them the Sundays from 22 February: 22 Feb, 1, 8, ... 26 April (10 Sundays).
    _, config = crafted_warehouse(tmp_path, every_five_days("a@x.example", 100, 10),
                                  history={"look_back_days": 365, "daily_days": 35})
    sundays = [date(2026, 2, 22) + timedelta(weeks=n) for n in range(10)]
    daily = [date(2026, 4, 27) + timedelta(days=n) for n in range(35)]
    assert sundays[-1] == date(2026, 4, 26) and daily[-1] == date(2026, 5, 31)
    with duckdb.connect(config.warehouse.path) as con:
        assert missing_days(con, config) == sundays + daily


def test_an_empty_warehouse_has_no_history_to_fill(tmp_path):
    path, config = crafted_warehouse(tmp_path, [])
    filled = materialize_alone(status_history, path, config)
    assert filled["days_filled_this_run"] == filled["dagster/row_count"] == 0
    assert filled["first_day"] == "none"


def test_the_backtest_asset_and_its_metadata(tmp_path):
    # test_backtest_by_hand's three ties, judged at 20, 40, 60 and 80 days before AS_OF:
    # its flags (a flagged and lapsed, b a false alarm, c missed) and one more short
    # silence of b at day 20, neither flagged nor lapsed.
    messages = (every_five_days("a@x.example", 200, 100)
                + every_five_days("b@x.example", 200, 100)
                + every_five_days("b@x.example", 75, 10)
                + every_five_days("c@x.example", 200, 110))
    path, config = crafted_warehouse(
        tmp_path, messages, backtest={"cutoffs": 4, "step_days": 20},
        status={"as_of": AS_OF.isoformat(),
                "cadence": {"a@x.example": 10, "b@x.example": 10, "c@x.example": 100}})
    described = materialize_alone(backtest, path, config)
    assert (described["flagged_cold"], described["lapsed"]) == (2, 2)
    assert (described["precision"], described["recall"]) == (0.5, 0.5)
    with duckdb.connect(config.warehouse.path, read_only=True) as con:
        months = con.execute("select strftime(month, '%Y-%m'), silences from marts.backtest "
                             "order by 1").fetchall()
    assert sum(n for _, n in months) == 6
    assert described["months"] == len(months)
    for month, silences in months:
        assert f"| {month} | {silences} |" in described["per_month"]


def test_every_refresh_fills_the_history_and_leaves_the_backtest_to_materialize_all():
    defs = build_definitions(ROOT / "keepwarm.yaml")
    job = defs.resolve_job_def(JOB_NAME)
    keys = set(job.asset_layer.selected_asset_keys)
    assert STATUS_HISTORY in keys and BACKTEST not in keys
    assert defs.resolve_all_job_defs() and not list(defs.sensors or [])
    assert job.partitions_def is None
