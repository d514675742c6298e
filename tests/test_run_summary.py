"""What `keepwarm run` says: progress per mailbox, the summary, why nothing came out; and
the calendar window, which bounds recurring series only (its count is in the summary)."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
from dagster import AssetKey, DagsterInstance

from engine.tally import Tally
from pipelines.cli import main as keepwarm
from pipelines.definitions import materialize_everything
from pipelines.progress import RunProgress
from tests.conftest import make_config

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ME = "me@example.com"

# As of 2025-01-20 with the default past_days (730) and future_days (30), recurring series
# are expanded from 2023-01-01 (2023-01-21, to the month's start) to 2025-03-01
# (2025-03-22, likewise). One-off events land whatever their date.
HISTORY_ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//keepwarm//test//EN
BEGIN:VEVENT
UID:dana-2021-03@example.com
DTSTART:20210301T100000Z
DTEND:20210301T110000Z
ORGANIZER:mailto:me@example.com
ATTENDEE;PARTSTAT=ACCEPTED:mailto:me@example.com
ATTENDEE;PARTSTAT=ACCEPTED:mailto:dana@example.org
END:VEVENT
BEGIN:VEVENT
UID:dana-2021-09@example.com
DTSTART:20210906T100000Z
DTEND:20210906T110000Z
ORGANIZER:mailto:me@example.com
ATTENDEE;PARTSTAT=ACCEPTED:mailto:me@example.com
ATTENDEE;PARTSTAT=ACCEPTED:mailto:dana@example.org
END:VEVENT
BEGIN:VEVENT
UID:dana-2022-01@example.com
DTSTART:20220110T100000Z
DTEND:20220110T110000Z
ORGANIZER:mailto:me@example.com
ATTENDEE;PARTSTAT=ACCEPTED:mailto:me@example.com
ATTENDEE;PARTSTAT=ACCEPTED:mailto:dana@example.org
END:VEVENT
BEGIN:VEVENT
UID:erik-2024-05@example.com
DTSTART:20240506T100000Z
DTEND:20240506T110000Z
ORGANIZER:mailto:me@example.com
ATTENDEE;PARTSTAT=ACCEPTED:mailto:me@example.com
ATTENDEE;PARTSTAT=ACCEPTED:mailto:erik@example.org
END:VEVENT
BEGIN:VEVENT
UID:weekly-erik@example.com
DTSTART:20221003T100000Z
DTEND:20221003T103000Z
RRULE:FREQ=WEEKLY;COUNT=20
ORGANIZER:mailto:me@example.com
ATTENDEE;PARTSTAT=ACCEPTED:mailto:me@example.com
ATTENDEE;PARTSTAT=ACCEPTED:mailto:erik@example.org
END:VEVENT
BEGIN:VEVENT
UID:monthly-fay@example.com
DTSTART:20241010T100000Z
DTEND:20241010T110000Z
RRULE:FREQ=MONTHLY
ORGANIZER:mailto:me@example.com
ATTENDEE;PARTSTAT=ACCEPTED:mailto:me@example.com
ATTENDEE;PARTSTAT=ACCEPTED:mailto:fay@example.org
END:VEVENT
END:VCALENDAR
"""


def landing_metadata(result) -> dict:
    (meta,) = {json.dumps({k: str(v) for k, v in e.materialization.metadata.items()},
                          sort_keys=True): e.materialization.metadata
               for e in result.get_asset_materialization_events()
               if e.asset_key == AssetKey(["landing", "mailboxes"])}.values()
    return meta


def test_one_off_events_years_back_land_and_series_outside_the_window_are_counted(tmp_path):
    calendar = tmp_path / "history.ics"
    calendar.write_text(HISTORY_ICS.replace("\n", "\r\n"), encoding="utf-8")
    path, config = make_config(
        tmp_path, me={"addresses": [ME]},
        sources={"files": {"account": ME, "calendars": [str(calendar)]}},
        status={"as_of": "2025-01-20T00:00:00Z"},
    )
    result = materialize_everything(path, instance=DagsterInstance.ephemeral(), parallel=False)
    assert result.success
    with duckdb.connect(config.warehouse.path, read_only=True) as con:
        keys = {k for (k,) in con.execute("select event_key from raw.events").fetchall()}
        people = {a for (a,) in con.execute(
            "select address from core.identities").fetchall()}
    # Every one-off event, the oldest nearly four years before as_of.
    assert {"dana-2021-03@example.com", "dana-2021-09@example.com", "dana-2022-01@example.com",
            "erik-2024-05@example.com"} <= keys
    # The weekly series (Mondays from 2022-10-03, 20 times) in the window: the seven
    # from 2023-01-02 to 2023-02-13; the thirteen of 2022 are left out and counted.
    weekly = sorted(k.removeprefix("weekly-erik@example.com_") for k in keys
                    if k.startswith("weekly-"))
    assert weekly == ["20230102T100000Z", "20230109T100000Z", "20230116T100000Z",
                      "20230123T100000Z", "20230130T100000Z", "20230206T100000Z",
                      "20230213T100000Z"]
    # The endless monthly series, from 2024-10-10 to the window's end: five; the later
    # ones are not "left out", they come in as the window moves.
    monthly = sorted(k.removeprefix("monthly-fay@example.com_") for k in keys
                     if k.startswith("monthly-"))
    assert monthly == ["20241010T100000Z", "20241110T100000Z", "20241210T100000Z",
                       "20250110T100000Z", "20250210T100000Z"]
    assert len(keys) == 4 + 7 + 5
    # Dana, met only in those old one-off meetings, is a person of the network.
    assert "dana@example.org" in people

    meta = landing_metadata(result)
    assert meta["outside_window"].value == 13
    assert meta["read"].value == 16
    summary = meta["summary"].value
    assert "16 landed (0 messages, 16 events)" in summary
    assert "13 instances of recurring events left out" in summary

    # Unchanged file, same as_of: a cheap check, nothing landed again.
    again = landing_metadata(materialize_everything(
        path, instance=DagsterInstance.ephemeral(), parallel=False))
    assert (again["files_unchanged"].value, again["batches_landed"].value) == (1, 0)
    assert again["summary"].value == ("```\nNothing new from 1 mailbox (1 file unchanged "
                                      "since the last run).\n```")

    # as_of a year later moves the window (2024-01-01 to 2026-03-01): the file is read
    # again; all 20 weekly instances are now before it, as is none of the monthly ones.
    make_config(tmp_path, me={"addresses": [ME]},
                sources={"files": {"account": ME, "calendars": [str(calendar)]}},
                status={"as_of": "2026-01-20T00:00:00Z"})
    later = landing_metadata(materialize_everything(
        path, instance=DagsterInstance.ephemeral(), parallel=False))
    assert later["outside_window"].value == 20
    # Oct 2024 to Feb 2026: 17 monthly instances, and the four one-off events.
    assert later["events"].value == 4 + 17


JUNK = {"binary.mbox": bytes(range(256)) * 4,
        "notes.mbox": b"hello world\nthis is not mail\n",
        "export.mbox": b"\x00\x01PK\x03\x04 a zip, not an mbox\n"}


def test_a_run_of_only_junk_files_says_why_nothing_came_out_and_exits_2(tmp_path, capsys):
    for name, data in JUNK.items():
        (tmp_path / name).write_bytes(data)
    # Named one by one, each must be read (a glob would skip them: see the end).
    named = [str(tmp_path / name) for name in sorted(JUNK)]
    path, _ = make_config(tmp_path, me={"addresses": [ME]},
                          sources={"files": {"account": ME, "mail": named}})
    assert keepwarm(["--config", str(path), "run"]) == 2
    out, err = capsys.readouterr()
    # Two files hold NUL bytes, one has no header line; each is one rejected "message".
    expected = (
        'No relationships: 0 messages or events landed from 3 files, 3 quarantined: 2 '
        '"header block contains NUL bytes: binary data, not a message", 1 "no \'Name: '
        'value\' header lines: not an RFC 5322 message"; see them with .venv/bin/keepwarm '
        'sql "select locator, reason from raw.quarantine"')
    assert " ".join(err.split("No relationships:", 1)[1].split()) == \
        expected.removeprefix("No relationships: ")
    assert all(len(line) <= 80 for line in (out + err).splitlines()
               if not line.startswith("landed "))
    assert "Going cold" not in out

    # Run again: the files are unchanged, and the warehouse still holds nothing but them.
    assert keepwarm(["--config", str(path), "run"]) == 2
    out, err = capsys.readouterr()
    assert "Nothing new from 1 mailbox (3 files unchanged since the last run)." in out
    assert " ".join(err.split()).endswith(
        "No relationships: nothing new: 3 files unchanged since the last run, and every "
        "record in them was quarantined (3); see them with .venv/bin/keepwarm sql "
        '"select locator, reason from raw.quarantine"')

    # A glob skips what is not mail; when that is everything it matched, that is the
    # mistake to fix, said in one line.
    pattern = str(tmp_path / "*.mbox")
    make_config(tmp_path, me={"addresses": [ME]},
                sources={"files": {"account": ME, "mail": [pattern]}})
    assert keepwarm(["--config", str(path), "run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"keepwarm: {pattern}: the pattern matches no mail (3 file a glob "
                          "matched that is not mail (no From_ line or mail header))\n")


def test_an_empty_calendar_says_it_holds_nothing_and_exits_0(tmp_path, capsys):
    calendar = tmp_path / "empty.ics"
    calendar.write_text("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n")
    path, _ = make_config(tmp_path, me={"addresses": [ME]},
                          sources={"files": {"account": ME, "calendars": [str(calendar)]}})
    # The file is a valid calendar without events: nothing is wrong to fix, so the run
    # succeeds, and says why the list is empty.
    assert keepwarm(["--config", str(path), "run"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("Read 0 records from 1 mailbox (1 file).\n")
    assert " ".join(err.split("No relationships:", 1)[1].split()) == (
        "0 messages or events in 1 file: the mailboxes and calendars read hold none")
    assert "2. Going cold (0)" in out
    # The network with nobody in it: zeros and dashes, never Python's None.
    assert "None" not in out
    assert "give and take     0 messages sent, 0 received: balance +0.00 (even)" in out
    assert "threads you open  -" in out


def test_progress_and_summary_as_plain_lines_agree_with_the_warehouse(tmp_path, capsys,
                                                                      monkeypatch):
    mail = tmp_path / "All mail.mbox"
    shutil.copy(FIXTURES / "mail" / "emailnetwork-takeout-sample.mbox", mail)
    account = "samuelchan@gmail.com"
    path, config = make_config(
        tmp_path, me={"addresses": [account]},
        sources={"files": {
            "account": account,
            # The sample twice: its second copy is all duplicates.
            "mail": [str(mail), str(FIXTURES / "mail" / "emailnetwork-takeout-sample.mbox"),
                     str(FIXTURES / "mail" / "malformed" / "mail_*")],
            "calendars": [str(FIXTURES / "calendar" / "keepwarm" / "*.ics")],
        }},
        status={"as_of": "2026-11-03T00:00:00Z"},
    )
    # A Dagster instance on disk, to read the landing asset's metadata after the CLI run.
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    assert keepwarm(["--config", str(path), "run", "--limit", "3"]) == 0
    out, err = capsys.readouterr()

    with duckdb.connect(config.warehouse.path, read_only=True) as con:
        messages, events, quarantined = con.execute(
            "select (select count(*) from raw.messages), (select count(*) from raw.events), "
            "(select count(*) from raw.quarantine)").fetchone()
        reasons = dict(con.execute(
            "select reason, count(*) from raw.quarantine group by all").fetchall())
    # By hand: 140 Takeout messages and three of the four malformed files; the Outlook
    # binary is not mail, which the glob skips with a count. ana-work.ics, as of
    # 2026-11-03 over the default 730 days
    # (from 2024-11-01): its two one-off events land, its one event that ends before it
    # starts is quarantined, and its weekly series of 2024 (five instances) is left out.
    assert (messages, events, quarantined) == (143, 2, 1)
    assert reasons == {"event ends (DTEND) before it starts (DTSTART)": 1}
    duplicates = 140  # the second copy of the sample
    read = messages + events + quarantined + duplicates

    # stderr is not a terminal: plain lines, the last one per mailbox when it is done.
    progress = [line for line in err.splitlines() if line.startswith(("landing ", "landed "))]
    assert re.fullmatch(
        rf"landed files:{account}: {read} read, {messages + events} landed, "
        rf"{quarantined} quarantined, {duplicates} duplicates in \d+ s", progress[-1])
    assert "\x1b[" not in err

    summary = out.split("\nkeepwarm digest")[0].splitlines()
    assert summary[0].startswith(f"Read {read} records from 1 mailbox in ")
    assert summary[0].endswith(" s (6 files):")
    assert summary[1:] == [
        "  145 landed (143 messages, 2 events)",
        "  140 duplicates skipped (already read from another file)",
        '  1 quarantined: 1 "event ends (DTEND) before it starts (DTSTART)"; see them',
        '    with .venv/bin/keepwarm sql "select locator, reason from raw.quarantine"',
        '  1 file or folder not read: 1 "file a glob matched that is not mail (no From_',
        '    line or mail header)"',
        "  5 instances of recurring events left out, before the calendar window",
        "    (sources.files.past_days)",
    ]
    assert all(len(line) <= 80 for line in out.splitlines()[: len(summary)])

    # The UI shows the same summary, word for word, in the landing asset's metadata.
    with DagsterInstance.get() as instance:
        record = instance.fetch_materializations(AssetKey(["landing", "mailboxes"]),
                                                 limit=1).records[0]
    metadata = record.asset_materialization.metadata
    assert metadata["summary"].value == "```\n" + "\n".join(summary) + "\n```"
    assert metadata["quarantine_reasons"].value == reasons


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_per_mailbox_redrawn_in_place(monkeypatch):
    monkeypatch.setattr("shutil.get_terminal_size",
                        lambda fallback: os.terminal_size((80, 24)))
    screen = _Terminal()
    with RunProgress(screen, poll_s=3600) as progress:
        def send(tally: Tally) -> None:
            with open(progress.path, "a") as f:
                f.write(json.dumps({"tally": tally.as_json()}) + "\n")
            progress._read_new()
            progress._render(final=False)

        send(Tally("files:someone.with.a.long.address@example.com", messages=250_000,
                   done=600, total=1000))
        send(Tally("demo:alex@northwind.example", messages=2_000))
        send(Tally("files:someone.with.a.long.address@example.com", messages=500_000,
                   quarantined=3, finished=True, done=1000, total=1000))
    lines = screen.getvalue().split("\n")[:-1]
    # 79 columns: the name cut to 24, the counts (28), the rest (11) leave a bar of 16.
    assert lines[0] == ("files:someone.with.a.lo…  [#########.......]  60%  "
                        "250,000 read  250,000 landed\x1b[K")
    # The second tally redraws from the first line (one line up), the third from two up.
    assert lines[1].startswith("\x1b[1Ffiles:someone.with.a.lo…  [#########.......]  60%")
    # No total known: a marker, two places in at 2,000 records (one a thousand).
    assert lines[2].startswith("demo:alex@northwind.exa…  [  =  ")
    # Read counts the three quarantined records too; at 80 columns their count gives way
    # to the bar (the summary lists them).
    assert lines[3] == ("\x1b[2Ffiles:someone.with.a.lo…  [################] 100%  "
                        "500,003 read  500,000 landed\x1b[K")
    assert all(len(re.sub(r"\x1b\[\d*[FK]", "", line)) <= 79 for line in lines)


def test_plain_lines_name_the_mailbox_whole():
    tally = Tally("files:someone.with.a.long.address@example.com", messages=12_345,
                  quarantined=2, done=1_500_000, total=3_000_000)
    assert tally.line() == ("landing files:someone.with.a.long.address@example.com: "
                            "12,347 read, 12,345 landed, 2 quarantined (50% of 3.0 MB)")


def test_progress_reaches_the_terminal_from_step_processes(tmp_path):
    # Two mailboxes land side by side, each in a step process of its own; the real
    # `keepwarm` script, so that its step processes start as a user's do.
    path, config = make_config(
        tmp_path, me={"addresses": ["alex@northwind.example"]},
        sources={"demo": {"mailboxes": 2, "months": 2, "scale": 0.2, "end": "2026-06-01"}},
        status={"as_of": "2026-06-01T00:00:00Z"},
    )
    script = Path(sys.executable).with_name("keepwarm")
    done = subprocess.run([str(script), "--config", str(path), "run", "--limit", "1"],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "COLUMNS": "80"})
    assert done.returncode == 0, done.stderr
    out, err = done.stdout, done.stderr
    # Dagster's own console lines from the step processes go to a file, not over the
    # progress: the terminal shows keepwarm's lines only.
    assert "STEP_WORKER_STARTED" not in err, err
    steps_log = Path(config.warehouse.path).parent / "dagster" / "step-processes.log"
    assert "STEP_WORKER_STARTED" in steps_log.read_text()
    with duckdb.connect(config.warehouse.path, read_only=True) as con:
        landed = dict(con.execute("""
            select account, sum(n) from (
                select account, count(*) as n from raw.messages group by 1
                union all select account, count(*) from raw.events group by 1)
            group by 1""").fetchall())
    assert set(landed) == {"alex@northwind.example", "member01@northwind.example"}
    for account, count in landed.items():
        assert re.search(rf"^landed demo:{re.escape(account)}: {count:,} read, {count:,} "
                         r"landed in \d+ s$", err, re.M), err
    assert f"Read {sum(landed.values()):,} records from 2 mailboxes in " in out
    member = landed["member01@northwind.example"]
    assert re.search(rf"^    demo:member01@northwind.example\s+{member:,} read\s+{member:,} "
                     r"landed$", out, re.M)
