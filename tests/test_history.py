"""Statuses as of past dates: daily snapshots, and the cold rule backtested on them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import duckdb
import polars as pl
from dagster import AssetKey, DagsterInstance, build_run_status_sensor_context, materialize

from assets.history import (
    HISTORY_JOB_NAME,
    end_of_day,
    history_assets,
    run_backtest,
    snapshot_day,
    statuses_as_of,
)
from connectors.records import Batch
from pipelines.definitions import JOB_NAME, build_definitions
from pipelines.resources import Settings, Warehouse
from pipelines.warehouse import apply_batch, ensure_schema
from tests.conftest import make_config, rebuild_model
from tests.crafted import AS_OF, ME, mail


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


def test_status_history_is_a_daily_partitioned_asset(tmp_path):
    day = "2026-05-20"
    path, config = make_config(tmp_path, me={"addresses": [ME]},
                               status={"as_of": AS_OF.isoformat()})
    with duckdb.connect(config.warehouse.path) as con:
        ensure_schema(con)
        apply_batch(con, Batch(messages=every_five_days("a@x.example", 60, 10)))
        rebuild_model(con, config)
    status_history, _, daily = history_assets(config.history.start_date)
    assert daily.get_first_partition_key() == "2024-01-01"
    result = materialize(
        [status_history], partition_key=day,
        resources={"settings": Settings(config_path=str(path)),
                   "warehouse": Warehouse(path=config.warehouse.path)},
    )
    assert result.success
    metadata = result.asset_materializations_for_node("marts__status_history")[0].metadata
    assert metadata["ties"].value == 1
    with duckdb.connect(config.warehouse.path, read_only=True) as con:
        assert con.execute("select snapshot_date, status from marts.status_history"
                           ).fetchall() == [(date.fromisoformat(day), "active")]


def test_a_successful_refresh_asks_for_the_day_just_ended(tmp_path):
    path, _ = make_config(tmp_path, me={"addresses": [ME]})
    defs = build_definitions(path)
    with DagsterInstance.ephemeral() as instance:
        # A stand-in for the refresh: the sensor only looks at which job succeeded.
        result = defs.resolve_job_def(JOB_NAME).execute_in_process(
            instance=instance, asset_selection=[AssetKey(["core", "identities"])],
            raise_on_error=False)
        sensor = defs.resolve_sensor_def("snapshot_after_refresh")
        context = build_run_status_sensor_context(
            sensor_name=sensor.name, dagster_instance=instance,
            dagster_run=result.dagster_run, dagster_event=result.get_run_success_event()
            if result.success else result.get_run_failure_event(),
        )
        request = sensor(context)
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    assert request.partition_key == yesterday
    assert request.job_name in (None, HISTORY_JOB_NAME)
    assert defs.resolve_job_def(HISTORY_JOB_NAME).partitions_def.get_first_partition_key() \
        == "2024-01-01"
