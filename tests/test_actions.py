"""keepwarm log, snooze, ignore and cadence: each action's effect on the model, worked out
by hand on crafted histories, through a full rebuild and through an incremental night
(build, act, build again the nightly way); and the commands themselves."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from assets.model import _describe_status
from assets.tables import MODEL_TABLES, rebuild_model
from connectors.records import Address, Batch
from engine.config import KeepwarmConfig
from engine.digest import person_profiles
from engine.locks import exclusive_lock
from engine.warehouse import apply_batch
from pipelines.actions import Action, check_cadence, check_log, check_snooze, record
from pipelines.cli import main, print_cold_list
from tests.conftest import make_config, utc
from tests.crafted import AS_OF, ME, mail, row

TODAY = AS_OF.date()
MODES = ("full", "incremental")


def named(message, name: str):
    """The message with a display name on its sender."""
    return dataclasses.replace(message, from_addrs=[Address(message.from_addrs[0].address,
                                                            name)])


def days_ago(n: float):
    return AS_OF - timedelta(days=n)


def exchange(person: str, name: str, theirs: float, yours: float) -> list:
    """One message from them `theirs` days before AS_OF and one to them `yours` days before:
    a two-way tie, two touchpoints."""
    return [named(mail(person, [ME], days_ago(theirs)), name),
            mail(ME, [person], days_ago(yours))]


def configure(tmp_path: Path, **status) -> KeepwarmConfig:
    tmp_path.mkdir(exist_ok=True)
    return make_config(tmp_path, me={"addresses": [ME]},
                       status={"as_of": AS_OF.isoformat(), **status})[1]


def at(config: KeepwarmConfig, moment) -> KeepwarmConfig:
    return config.model_copy(update={"status": config.status.model_copy(
        update={"as_of": moment})})


def tables(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    return {f"{s}.{t}": con.execute(f"select * from {s}.{t} order by all").fetchall()
            for s, t in MODEL_TABLES}


def marts(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    """What a user reads: every model table but core.actions, which lists the actions."""
    return {name: rows for name, rows in tables(con).items() if name != "core.actions"}


class Night:
    """Builds the model after an action: whole (`full`), or the way a nightly run does
    (`incremental`), then checked against a whole rebuild of a copy of the same file."""

    def __init__(self, con, tmp_path: Path, mode: str) -> None:
        self.con, self.tmp_path, self.mode, self.copies = con, tmp_path, mode, 0

    def __call__(self, config: KeepwarmConfig) -> duckdb.DuckDBPyConnection:
        rebuild_model(self.con, config, full=self.mode == "full")
        if self.mode == "incremental":
            self.con.execute("checkpoint")
            self.copies += 1
            copy = self.tmp_path / f"whole-{self.copies}.duckdb"
            path = self.con.execute("select path from duckdb_databases() "
                                    "where database_name = current_database()").fetchall()[0][0]
            shutil.copyfile(path, copy)
            with duckdb.connect(str(copy)) as whole:
                rebuild_model(whole, config, full=True)
                assert tables(whole) == tables(self.con)
        return self.con

    def interaction_build(self) -> tuple:
        return self.con.execute(
            "select mode, messages_rebuilt, events_rebuilt from core.interaction_builds"
            " order by built_at desc limit 1").fetchall()[0]

    def people_rebuilt(self) -> int:
        return self.con.execute("select people_rebuilt from marts.contact_summary_builds"
                                " order by built_at desc limit 1").fetchall()[0][0]


@pytest.fixture(params=MODES)
def night(request, con, tmp_path) -> Night:
    return Night(con, tmp_path, request.param)


# --- keepwarm log ---------------------------------------------------------------------------


def test_a_logged_contact_ends_the_silence_and_counts_as_a_touchpoint(con, tmp_path, night):
    config = configure(tmp_path)
    apply_batch(con, Batch(messages=[*exchange("ana@x.example", "Ana Lima", 100, 90),
                                     *exchange("bo@x.example", "Bo Berg", 50, 60)]))
    night(config)
    before = marts(con)
    status = "select days_silent, touchpoints from marts.relationship_status where person_id = ?"
    assert row(con, status, ["ana@x.example"]) == (90.0, 2)
    assert row(con, status, ["bo@x.example"]) == (50.0, 2)

    # 90 minutes with Ana in person twelve days ago; a call with Bo seven days ago.
    record(con, config, "ana lima", check_log(date(2026, 5, 20), "in-person", 90, TODAY),
           note="coffee at the conference")
    record(con, config, "bo@x.example", check_log(date(2026, 5, 25), "call", None, TODAY))
    night(config)
    if night.mode == "incremental":
        # Two logged contacts, nothing from raw.*; the summaries redo their two people.
        assert night.interaction_build() == ("incremental", 0, 2)
        assert night.people_rebuilt() == 2
    assert con.execute(
        "select person_id, account, interaction_key, channel, in_person, duration_minutes,"
        " occurred_at, is_noise from core.interactions where account = 'logged' order by 1"
    ).fetchall() == [
        ("ana@x.example", "logged", "log-1", "meeting", True, 90.0, utc(2026, 5, 20), False),
        ("bo@x.example", "logged", "log-2", "meeting", False, None, utc(2026, 5, 25), False),
    ]
    # Silence from the logged day to 1 June; a third touchpoint (its gap over two days).
    assert row(con, status, ["ana@x.example"]) == (12.0, 3)
    assert row(con, status, ["bo@x.example"]) == (7.0, 3)
    # Face time in person only: 1.5 hours, face_time_score 1 - exp(-1.5 / 5) = 0.2592.
    metrics = ("select meetings, meetings_in_person, meeting_hours, face_time_score,"
               " last_meeting_at, interactions_30d from marts.contact_metrics"
               " where person_id = ?")
    assert row(con, metrics, ["ana@x.example"]) == (1, 1, 1.5, 0.2592, utc(2026, 5, 20), 1)
    assert row(con, metrics, ["bo@x.example"]) == (1, 0, 0.0, 0.0, utc(2026, 5, 25), 1)
    # What the user logged is contact they had, not a meeting keepwarm saw: it leaves no
    # "follow up on your meeting" loop behind, twelve and seven days on.
    assert row(con, "select count(*) from marts.open_loops "
                    "where loop = 'meeting_without_follow_up'") == (0,)
    # The note stays in raw.actions, the user's table, and goes nowhere else.
    assert row(con, "select note from raw.actions where action_id = 1") == (
        "coffee at the conference",)

    # Undo withdraws the latest contact logged with each: everything is as before.
    record(con, config, "Ana", check_log(None, "call", None, TODAY, undo=True))
    record(con, config, "Bo", check_log(None, "call", None, TODAY, undo=True))
    night(config)
    if night.mode == "incremental":
        assert night.interaction_build() == ("incremental", 0, 2)
    assert marts(con) == before
    assert con.execute("select action_id, kind, undo, undoes from raw.actions order by 1"
                       ).fetchall() == [(1, "log", False, None), (2, "log", False, None),
                                        (3, "log", True, 1), (4, "log", True, 2)]


def test_a_logged_contact_makes_a_tie_of_someone_who_only_wrote(con, tmp_path, night):
    config = configure(tmp_path)
    apply_batch(con, Batch(messages=[mail("cy@x.example", [ME], days_ago(40))]))
    night(config)
    assert row(con, "select is_tie from marts.contact_metrics") == (False,)
    assert con.execute("select count(*) from marts.relationship_status").fetchall() == [(0,)]
    record(con, config, "cy@x.example", check_log(date(2026, 5, 30), "other", None, TODAY))
    night(config)
    # A conversation, two days ago: a tie now, first contact 40 days ago, so not new.
    assert row(con, "select is_tie from marts.contact_metrics") == (True,)
    assert row(con, "select person_id, days_silent, touchpoints from"
                    " marts.relationship_status") == ("cy@x.example", 2.0, 2)


# --- keepwarm snooze ------------------------------------------------------------------------


def going_cold(con, capsys) -> tuple[str, str]:
    """What `keepwarm cold` prints, and the cold list the asset's metadata carries."""
    print_cold_list(con, limit=50)
    return capsys.readouterr().out, _describe_status(con)["going_cold"].value


def test_a_snoozed_tie_leaves_the_cold_lists_until_its_day(con, tmp_path, night, capsys):
    # A 10-day cadence and 20 days of silence: cold (past 1.5 x 10), by hand.
    config = configure(tmp_path, cadence={"cy@x.example": 10})
    apply_batch(con, Batch(messages=exchange("cy@x.example", "Cy Moss", 30, 20)))
    night(config)
    printed, metadata = going_cold(con, capsys)
    assert "Going cold: 1 cold and 0 cooling of 1 relationships." in printed
    assert "cy@x.example" in printed and "cy@x.example" in metadata

    record(con, config, "Cy Moss", check_snooze(date(2026, 6, 10), None, TODAY))
    night(config)
    # Still cold, and known to be; off both lists.
    assert row(con, "select status, snoozed_until from marts.relationship_status") == (
        "cold", date(2026, 6, 10))
    printed, metadata = going_cold(con, capsys)
    assert "Going cold: 0 cold and 0 cooling of 1 relationships (1 more snoozed)." in printed
    assert "cy@x.example" not in printed and "cy@x.example" not in metadata

    record(con, config, "cy", check_snooze(None, None, TODAY, undo=True))
    night(config)
    assert row(con, "select status, snoozed_until from marts.relationship_status") == (
        "cold", None)
    assert "cy@x.example" in going_cold(con, capsys)[0]

    # Nine days from 1 June: back on 10 June. The nights move on.
    record(con, config, "cy", check_snooze(None, 9, TODAY))
    night(at(config, utc(2026, 6, 9)))
    if night.mode == "incremental":
        assert night.interaction_build() == ("incremental", 0, 0)
    assert row(con, "select status, days_silent, snoozed_until from"
                    " marts.relationship_status") == ("cold", 28.0, date(2026, 6, 10))
    assert "cy@x.example" not in going_cold(con, capsys)[0]
    night(at(config, utc(2026, 6, 10)))
    assert row(con, "select status, days_silent, snoozed_until from"
                    " marts.relationship_status") == ("cold", 29.0, None)
    printed, metadata = going_cold(con, capsys)
    assert "cy@x.example" in printed and "cy@x.example" in metadata


# --- keepwarm ignore ------------------------------------------------------------------------


def test_an_ignored_person_is_never_a_tie(con, tmp_path, night):
    config = configure(tmp_path)
    apply_batch(con, Batch(messages=[*exchange("dee@x.example", "Dee Vendor", 40, 30),
                                     *exchange("eve@x.example", "Eve Stone", 20, 10)]))
    night(config)
    before = marts(con)
    summary = "select people, ties, active_ties, layer_5 from marts.network_summary"
    assert row(con, summary) == (2, 2, 2, 2)

    record(con, config, "Dee", Action("ignore"))
    night(config)
    if night.mode == "incremental":
        # Dee's two messages redone; Dee's summary dropped.
        assert night.interaction_build() == ("incremental", 2, 0)
        assert night.people_rebuilt() == 1
    assert con.execute("select person_id from marts.relationship_status").fetchall() == [
        ("eve@x.example",)]
    assert con.execute("select person_id from marts.contact_metrics").fetchall() == [
        ("eve@x.example",)]
    assert row(con, summary) == (1, 1, 1, 1)
    # The rows stay, marked.
    assert con.execute("select noise_reason, count(*) from core.interactions"
                       " where person_id = 'dee@x.example' group by 1").fetchall() == [
        ("ignored by you", 2)]
    # Their card says why they are no tie.
    (card,) = person_profiles(con, ["dee@x.example"])
    assert dict(dict((b.title, b.lines) for b in card.blocks)["Where you stand"]) == {
        "status": "not a tie yet", "why": "nothing with them counts: ignored by you",
        "next": "-", "cadence you set": "-"}
    # A contact logged with someone ignored is marked the same way.
    record(con, config, "Dee", check_log(date(2026, 5, 30), "call", None, TODAY))
    night(config)
    assert row(con, summary) == (1, 1, 1, 1)

    record(con, config, "dee@x.example", Action("ignore", undo=True))
    record(con, config, "dee@x.example", check_log(None, "call", None, TODAY, undo=True))
    night(config)
    assert marts(con) == before


# --- keepwarm cadence -----------------------------------------------------------------------


def test_a_cadence_from_the_command_line_works_as_status_cadence_does(con, tmp_path, night):
    apply_batch(con, Batch(messages=[*exchange("fay@x.example", "Fay Dunn", 30, 20),
                                     mail("gus@x.example", [ME], days_ago(5))]))
    config = configure(tmp_path)
    night(config)
    before = marts(con)
    status = ("select status, cadence_days, reason from marts.relationship_status"
              " where person_id = 'fay@x.example'")

    record(con, config, "Fay", check_cadence(10))
    night(config)
    if night.mode == "incremental":
        assert night.interaction_build() == ("incremental", 0, 0)
    # Silent 20 days, past 1.5 x 10: cold.
    assert row(con, status) == ("cold", 10.0, "you want contact every 10 days; silent 20 days")
    # Fay's card says the cadence decides, not her rhythm's cooling and cold lines.
    (card,) = person_profiles(con, ["fay@x.example"])
    blocks = {b.title: dict(b.lines) for b in card.blocks}
    assert blocks["Where you stand"]["cadence you set"] == "every 10 days"
    assert blocks["Rhythm"]["cooling, cold"] == "when your cadence says (above)"
    assert "cooling after" not in blocks["Rhythm"] and "cold after" not in blocks["Rhythm"]
    with_command = con.execute("from marts.relationship_status").fetchall()

    # The same cadence in keepwarm.yaml, no action: the same table, row for row.
    configured = configure(tmp_path / "configured", cadence={"fay@x.example": 10})
    record(con, config, "Fay", check_cadence(None, undo=True))
    night(configured)
    assert con.execute("from marts.relationship_status").fetchall() == with_command

    # Both set: the command wins; undone, the file's cadence is back. 30 days: active.
    both = configure(tmp_path / "both", cadence={"fay@x.example": 30})
    record(con, config, "Fay", check_cadence(10))
    night(both)
    assert row(con, status)[:2] == ("cold", 10.0)
    record(con, config, "Fay", check_cadence(None, undo=True))
    night(both)
    assert row(con, status)[:2] == ("active", 30.0)

    # Someone who only wrote is no tie; naming a cadence makes them one, as the file does.
    record(con, config, "gus", check_cadence(14))
    night(config)
    assert row(con, "select status, days_silent, cadence_days from marts.relationship_status"
                    " where person_id = 'gus@x.example'") == ("active", 5.0, 14.0)
    record(con, config, "gus", check_cadence(None, undo=True))
    night(config)
    assert marts(con) == before


# --- the commands -----------------------------------------------------------------------------


@pytest.fixture
def built(tmp_path) -> tuple[Path, KeepwarmConfig]:
    """A warehouse file with a model, as `keepwarm run` leaves it, and its config file."""
    path, config = make_config(tmp_path, me={"addresses": [ME]},
                               status={"as_of": AS_OF.isoformat()})
    with duckdb.connect(config.warehouse.path) as con:
        from engine.warehouse import ensure_schema
        ensure_schema(con)
        apply_batch(con, Batch(messages=[*exchange("ana@x.example", "Ana Lima", 100, 90),
                                         *exchange("anna@y.example", "Anna Berg", 80, 70)]))
        rebuild_model(con, config)
    return path, config


def test_keepwarm_log_records_rebuilds_and_republishes(built, capsys, caplog):
    path, config = built
    code = main(["--config", str(path), "log", "Ana Lima", "--date", "2026-05-20", "--how",
                 "in-person", "--note", "met at the fair: private"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    said = " ".join(out.split())  # lines are wrapped to the terminal
    assert "Recorded #1" in said
    assert "60 minutes in person with Ana Lima <ana@x.example> on 2026-05-20" in said
    assert "Ana Lima: active, silent 12 days." in said
    assert "private" not in out + caplog.text
    # The serving copy readers query already says so.
    with duckdb.connect(config.warehouse.serving_path, read_only=True) as serving:
        assert row(serving, "select days_silent, touchpoints from marts.relationship_status"
                            " where person_id = 'ana@x.example'") == (12.0, 3)
        assert row(serving, "select how, minutes, note from raw.actions") == (
            "in-person", 60.0, "met at the fair: private")


def test_keepwarm_log_of_a_call_the_default_says_what_it_recorded(built, capsys,
                                                                  monkeypatch):
    """`keepwarm log NAME`, the commonest use: a call (the default), today, no minutes;
    said in lines that fit the terminal."""
    monkeypatch.setenv("COLUMNS", "60")
    path, config = built
    code = main(["--config", str(path), "log", "Anna", "Berg"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert max(len(line) for line in out.splitlines()) <= 60
    said = " ".join(out.split())
    today = AS_OF.date().isoformat()  # the day of the configured as-of time
    assert said.startswith("Recorded #1 at ")
    assert f": a call with Anna Berg <anna@y.example> on {today}. In effect now" in said
    with duckdb.connect(config.warehouse.path, read_only=True) as con:
        assert row(con, "select kind, how, minutes, occurred_on::varchar from raw.actions") == (
            "log", "call", None, today)
    assert said.endswith("Anna Berg: active, silent 0 days.")
    # The card says it was a call the user logged, not a meeting.
    with duckdb.connect(config.warehouse.serving_path, read_only=True) as serving:
        (card,) = person_profiles(serving, ["anna@y.example"])
    assert dict(dict((b.title, b.lines) for b in card.blocks)["Key dates"])[
        "last contact"] == f"{today}, a call you logged"
    last = card.timeline[-1]
    assert (last.day, last.channel, last.direction, last.shape, last.mode, last.note) == (
        today, "logged", "a call", "one-to-one", "", "")
    # The call, today, is contact that happened, not a meeting ahead: the digest (whose
    # "Before your meetings" starts today) does not list it, and had no length to print.
    assert main(["--config", str(path), "digest"]) == 0
    digest = capsys.readouterr().out
    assert "Before your meetings (0)" in digest and "Anna Berg: active" not in digest


def test_keepwarm_actions_say_what_is_wrong_in_one_line(built, capsys):
    path, config = built

    def run(*args: str) -> tuple[int, str]:
        code = main(["--config", str(path), *args])
        return code, capsys.readouterr().err

    code, err = run("snooze", "Zed", "--days", "3")
    assert code == 2 and err.count("\n") == 1
    assert "nobody in your mail or calendar matches 'Zed'" in err
    # "an" is in both names: both listed, neither chosen.
    code, err = run("ignore", "an")
    assert code == 2
    assert "'an' matches 2 people" in err
    assert "Ana Lima <ana@x.example>" in err and "Anna Berg <anna@y.example>" in err
    assert run("log", "Ana Lima", "--date", "2026-06-02")[1].startswith(
        "keepwarm: --date 2026-06-02 is in the future")
    assert run("cadence", "Anna", "--undo")[1] == (
        "keepwarm: Anna Berg <anna@y.example> is not given a cadence with `keepwarm "
        "cadence`: nothing to undo\n")
    assert run("log", "ana@x.example", "--how", "call", "--minutes", "30")[0] == 2
    assert run("snooze", "ana@x.example", "--until", "2026-05-01")[0] == 2
    # Nothing was recorded by any of them.
    with duckdb.connect(config.warehouse.path, read_only=True) as con:
        assert con.execute("select count(*) from raw.actions").fetchall() == [(0,)]

    # A run holding the warehouse: said so, nothing recorded.
    lock = Path(config.warehouse.path).with_name("keepwarm.duckdb.writer.lock")
    with exclusive_lock(lock, wait_s=0):
        code, err = run("ignore", "Anna", "--wait", "0.2")
    assert code == 2 and "a keepwarm run is writing the warehouse" in err
