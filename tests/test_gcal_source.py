"""The Google Calendar source through Dagster: a real client, real HTTP to the emulator,
the landing zone and a real DuckDB file, then the model on what it read."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path

import duckdb
from dagster import DagsterInstance

from assets.ingest import calendar_window
from connectors.records import EventRecord
from pipelines.definitions import materialize_everything
from tests.conftest import make_config
from tests.connectors.test_calendar_sync import expected_table
from tests.emulators.helpers import CAL_ACCOUNT, ana_calendar
from tests.test_gmail_source import token_file

pytest_plugins = ["tests.emulators.plugin"]

# Far enough back that the emulator's 2024 calendar is inside the first sync's window.
PAST_DAYS = 1200


def run(path: Path) -> dict:
    result = materialize_everything(path, instance=DagsterInstance.ephemeral(), parallel=False)
    assert result.success
    meta = {e.asset_key.to_user_string(): e.materialization.metadata
            for e in result.get_asset_materialization_events()}
    return meta["landing/mailboxes"] | meta["raw/events"] | meta["core/interactions"]


def stored(con: duckdb.DuckDBPyConnection) -> dict[str, tuple]:
    return {key: tuple(rest) for key, *rest in con.execute(
        "select event_key, status, start_at, end_at, len(attendees) from raw.events "
        "where source = 'gcal' and account = $a", {"a": CAL_ACCOUNT}).fetchall()}


def as_rows(records: dict[str, EventRecord]) -> dict[str, tuple]:
    return {key: (r.status, r.start_at, r.end_at, len(r.attendees)) for key, r in records.items()}


def test_calendar_syncs_fully_then_incrementally_and_feeds_the_model(calendar_emulator,
                                                                     tmp_path):
    calendar = calendar_emulator.add_calendar(CAL_ACCOUNT, ana_calendar(volume=False),
                                              token="test-token")
    path, config = make_config(
        tmp_path, me={"addresses": [CAL_ACCOUNT]},
        sources={"gcal": {"accounts": [{"address": CAL_ACCOUNT,
                                        "token_file": str(token_file(tmp_path, CAL_ACCOUNT))}],
                          "past_days": PAST_DAYS, "api_endpoint": calendar_emulator.endpoint}},
    )
    start, end = (datetime.combine(d, time(), tzinfo=UTC)
                  for d in calendar_window(PAST_DAYS, 30, config.as_of()))

    first = run(path)
    assert first[f"gcal/{CAL_ACCOUNT}/primary"].value["mode"] == "full"
    with duckdb.connect(config.warehouse.path, read_only=True) as con:
        assert stored(con) == as_rows(expected_table(calendar, window=(start, end)))
        meetings = con.execute(
            "select count(*) from core.interactions where channel = 'meeting' and not is_noise"
        ).fetchall()[0][0]
    assert meetings > 0

    # Someone accepts: one changed event arrives through the sync token, nothing else.
    event = next(e for e in calendar.snapshot().values()
                 if e.status == "confirmed" and len(e.attendees) >= 2
                 and e.attendees[1].email.lower() != CAL_ACCOUNT)
    calendar.respond(event.id, event.attendees[1].email, "declined")
    second = run(path)
    assert second[f"gcal/{CAL_ACCOUNT}/primary"].value["mode"] == "incremental"
    assert second["loaded_this_run"].value == 1
    # ...and the model redoes that one meeting's rows, not the calendar's.
    assert (first["build/mode"].value, second["build/mode"].value) == ("full", "incremental")
    assert (second["build/messages_rebuilt"].value, second["build/events_rebuilt"].value) == (0, 1)
    with duckdb.connect(config.warehouse.path, read_only=True) as con:
        assert stored(con) == as_rows(expected_table(calendar, window=(start, end)))
        declined = con.execute(
            "select a.response_status from (select unnest(attendees) as a from raw.events "
            "where event_key = $k) where a.address = $who",
            {"k": event.id, "who": event.attendees[1].email.lower()}).fetchall()
    assert declined == [("declined",)]


def test_one_token_carries_the_scopes_of_every_source_reading_the_address(tmp_path):
    _, config = make_config(tmp_path, sources={
        "gmail": {"accounts": [{"address": "Ana@Example.com"}, {"address": "bo@example.com"}]},
        "gcal": {"accounts": [{"address": "ana@example.com", "calendars": ["primary", "team"]}]},
    })
    assert config.sources.google_sources("ana@example.com") == {"gmail": True, "calendar": True,
                                                                "contacts": False,
                                                                "other_contacts": False}
    assert config.sources.google_sources("bo@example.com") == {"gmail": True, "calendar": False,
                                                               "contacts": False,
                                                               "other_contacts": False}
    # Written in two cases, still one token file.
    assert config.sources.gcal.accounts[0].token_path() == \
        config.sources.gmail.accounts[0].token_path()
