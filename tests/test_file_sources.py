"""Offline exports through the whole pipeline: Takeout mbox and .ics into every table."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance

from pipelines.cli import main as keepwarm
from pipelines.definitions import materialize_everything
from tests.conftest import make_config

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TAKEOUT = FIXTURES / "mail" / "emailnetwork-takeout-sample.mbox"
ACCOUNT = "samuelchan@gmail.com"

APPENDED = b"""From 1800000000000000001@xxx Mon Nov 02 10:00:00 +0000 2026
X-GM-THRID: 1800000000000000001
X-Gmail-Labels: Inbox
From: New Person <new.person@example.org>
To: samuelchan@gmail.com
Date: Mon, 2 Nov 2026 10:00:00 +0000
Message-ID: <appended-1@example.org>
Subject: hello

body text that is never stored
"""


@pytest.fixture
def files_config(tmp_path):
    mail = tmp_path / "Takeout" / "All mail.mbox"
    mail.parent.mkdir()
    shutil.copy(TAKEOUT, mail)
    path, config = make_config(
        tmp_path,
        me={"addresses": [ACCOUNT]},
        sources={"files": {
            "account": ACCOUNT,
            "mail": [str(mail), str(FIXTURES / "mail" / "malformed" / "mail_*")],
            "calendars": [str(FIXTURES / "calendar" / "keepwarm" / "*.ics")],
            "past_days": 4000,
        }},
        status={"as_of": "2026-11-03T00:00:00Z"},
    )
    return path, config, mail


def run(path: Path):
    result = materialize_everything(path, instance=DagsterInstance.ephemeral(), parallel=False)
    assert result.success
    return {e.asset_key.to_user_string(): e.materialization.metadata
            for e in result.get_asset_materialization_events()}


def checksums(db: str) -> dict:
    with duckdb.connect(db, read_only=True) as con:
        return {
            t: con.execute(f"select count(*), sum(hash(columns(* exclude ({skip})))) "
                           f"from {t}").fetchall()
            for t, skip in (("raw.messages", "loaded_at"), ("raw.events", "loaded_at"),
                            ("raw.quarantine", "first_seen_at"),
                            ("marts.contact_metrics", "person_id"))
        }


def test_takeout_and_ics_flow_to_the_marts_and_a_rerun_changes_nothing(files_config):
    path, config, mail = files_config
    meta = run(path)
    with duckdb.connect(config.warehouse.path, read_only=True) as con:
        counts = dict(con.execute(
            "select source, count(*) from raw.messages group by 1").fetchall())
        # 140 Takeout messages; the four malformed/Outlook files: three parse, the
        # Outlook .msg binary is not mail: the glob skips it, with a count (below).
        assert counts == {"mbox": 143}
        quarantined = dict(con.execute(
            "select kind, locator from raw.quarantine order by kind").fetchall())
        # The calendar's event that ends before it starts is quarantined.
        assert quarantined == {
            "event": f"{FIXTURES}/calendar/keepwarm/ana-work.ics:ends-before-start@keepwarm.test",
        }
        sent = con.execute("select count(*) from raw.messages "
                           "where list_contains(labels, 'SENT')").fetchall()[0][0]
        assert sent == 50
        assert con.execute("select count(*) from raw.messages where subject is not null"
                           ).fetchall() == [(0,)]
        assert con.execute("select count(*) from raw.events").fetchall()[0][0] > 0
        ties = con.execute("select count(*) from marts.contact_metrics where is_tie"
                           ).fetchall()[0][0]
        assert ties > 0
        # Three streams with cursors: the mbox, the malformed files, the calendar.
        streams = con.execute("select count(*) from raw.sync_state").fetchall()[0][0]
        assert streams >= 3
    assert meta["raw/quarantine"]["quarantined_this_run"].value == 1
    from connectors.takeout.paths import NOT_MAIL

    assert meta["landing/mailboxes"]["skipped"].value == {NOT_MAIL: 1}
    assert f'1 file or folder not read: 1 "{NOT_MAIL}"' in " ".join(
        meta["landing/mailboxes"]["summary"].value.split())

    before = checksums(config.warehouse.path)
    again = run(path)
    assert again["raw/messages"]["loaded_this_run"].value == 0
    assert again["landing/mailboxes"]["files_unchanged"].value >= 2
    assert again["landing/mailboxes"]["batches_landed"].value == 0
    assert checksums(config.warehouse.path) == before

    with mail.open("ab") as f:
        f.write(b"\n" + APPENDED)
    appended = run(path)
    assert appended["raw/messages"]["loaded_this_run"].value == 1
    with duckdb.connect(config.warehouse.path, read_only=True) as con:
        assert con.execute("select count(*) from raw.messages").fetchall() == [(144,)]


def test_a_missing_file_fails_the_run_naming_the_path(tmp_path, capsys):
    missing = tmp_path / "nowhere" / "All mail.mbox"
    path, _ = make_config(tmp_path, sources={"files": {"account": ACCOUNT,
                                                        "mail": [str(missing)]}})
    assert keepwarm(["--config", str(path), "run"]) == 2
    assert capsys.readouterr().err == (f"keepwarm: {missing}: no such file or folder\n"
                                       f"  fix sources.files.mail in {path}\n")


def test_a_runaway_recurring_series_is_quarantined_by_the_configured_bound(tmp_path):
    # One FREQ=MINUTELY event next to a normal calendar: the bound from keepwarm.yaml
    # quarantines it with the reason, and the rest of the calendar lands.
    calendar = tmp_path / "work.ics"
    calendar.write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
        "BEGIN:VEVENT\r\nUID:lunch\r\nDTSTART:20261015T120000Z\r\nDTEND:20261015T130000Z\r\n"
        "ORGANIZER:mailto:samuelchan@gmail.com\r\nATTENDEE:mailto:ann@example.org\r\n"
        "END:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:weekly\r\nDTSTART:20260907T090000Z\r\nDTEND:20260907T093000Z\r\n"
        "RRULE:FREQ=WEEKLY;COUNT=8\r\nATTENDEE:mailto:ann@example.org\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:runaway\r\nDTSTART:20261001T000000Z\r\nDTEND:20261001T000100Z\r\n"
        "RRULE:FREQ=MINUTELY\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n",
        encoding="utf-8",
    )
    path, config = make_config(
        tmp_path,
        me={"addresses": [ACCOUNT]},
        sources={"files": {"account": ACCOUNT, "calendars": [str(calendar)],
                           "max_instances_per_series": 1000}},
        status={"as_of": "2026-11-03T00:00:00Z"},
    )
    run(path)
    with duckdb.connect(config.warehouse.path, read_only=True) as con:
        events = con.execute("select coalesce(recurring_event_id, event_key), count(*) "
                             "from raw.events group by 1 order by 1").fetchall()
        quarantined = con.execute("select locator, reason from raw.quarantine").fetchall()
    assert events == [("lunch", 1), ("weekly", 8)]
    assert quarantined == [(
        f"{calendar.resolve()}:runaway",
        "recurring series repeats more than 1,000 times between its start and the "
        "window's end (max_instances_per_series): FREQ=MINUTELY",
    )]
