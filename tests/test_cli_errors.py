"""The mistakes people make, each answered with one clear message and exit status 2.

`MESSAGES` holds the exact text keepwarm prints for each, with <placeholders> for what a
test makes up (paths, addresses); the README's Troubleshooting table lists the same
messages, and a test below holds the two together.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.parse
import urllib.request
import webbrowser
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dagster import DagsterInstance

from connectors.google import GMAIL_SCOPES
from engine.migrations import migrations
from engine.warehouse import ensure_schema
from pipelines.cli import build_parser, main
from pipelines.definitions import materialize_everything
from tests.conftest import make_config
from tests.test_file_sources import TAKEOUT

pytest_plugins = ["tests.emulators.plugin"]

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
ACCOUNT = "ana@example.com"
TINY_DEMO = {"demo": {"seed": 3, "months": 6, "end": "2026-06-01", "scale": 0.2}}
AS_OF = {"as_of": "2026-06-01T00:00:00Z"}
CLIENT_HELP = ("create an OAuth client ID of type 'Desktop app' in Google Cloud console "
               "(APIs & Services > Credentials) and pass its downloaded JSON")
SQL_EXAMPLE = 'keepwarm sql "select * from marts.relationship_status limit 5"'
REAUTH = "`keepwarm auth google --account <address> --client-secrets CLIENT.json`"

MESSAGES = {
    "config_missing": "keepwarm: no config file at <config>: name one with --config FILE or "
                      "KEEPWARM_CONFIG=FILE",
    "config_not_yaml": "keepwarm: <config>, line 3 column 3: not valid YAML (expected ',' or "
                       "']', but got ':'); check the indentation and quoting there",
    "config_misspelt_key": "keepwarm: <config>: sourcs: unknown key (did you mean sources?)",
    "config_bad_value": "keepwarm: <config>: status.cold_probability: Input should be less "
                        "than 1",
    "config_without_sources": "keepwarm: <config> names no source to read: add one under "
                              "`sources:` (demo, files, gmail, gcal or gcontacts; README, Your "
                              "own mail and calendar)",
    "unknown_command": "keepwarm: error: argument COMMAND: invalid choice: 'frob' (choose from "
                       "<commands>)",
    "warehouse_not_duckdb": "keepwarm: <path>: not a DuckDB database file (keepwarm will not "
                            "overwrite it): move it away or name a new file\n"
                            "  fix warehouse.path in <config>",
    "warehouse_is_a_folder": "keepwarm: <path>: is a folder, expected a DuckDB database file\n"
                             "  fix warehouse.path in <config>",
    "mail_missing": "keepwarm: <path>: no such file or folder\n"
                    "  fix sources.files.mail in <config>",
    "mail_glob_matches_nothing": "keepwarm: <path>: the pattern matches no file or folder\n"
                                 "  fix sources.files.mail in <config>",
    "mail_glob_matches_no_mail": "keepwarm: <path>: the pattern matches no mail (<counts>)\n"
                                 "  fix sources.files.mail in <config>",
    "mail_unreadable": "keepwarm: <path>: permission denied (check the file's owner and mode)\n"
                       "  fix sources.files.mail in <config>",
    "mail_folder_not_maildir": "keepwarm: <path>: not a Maildir (no cur/ or new/ folder "
                               "inside): name the Maildir itself, or the mbox files in this "
                               "folder (folder/*.mbox)\n"
                               "  fix sources.files.mail in <config>",
    "mail_is_an_archive": "keepwarm: <path>: a zip archive, not the files in it: unpack it "
                          "and name those, e.g. Takeout/Mail/*.mbox\n"
                          "  fix sources.files.mail in <config>",
    "calendar_is_an_archive": "keepwarm: <path>: a gzip archive, not the files in it: unpack "
                              "it and name those, e.g. Takeout/Calendar/*.ics\n"
                              "  fix sources.files.calendars in <config>",
    "calendar_missing": "keepwarm: <path>: no such file or folder\n"
                        "  fix sources.files.calendars in <config>",
    "calendar_is_a_folder": "keepwarm: <path>: is a folder, expected a file\n"
                            "  fix sources.files.calendars in <config>",
    "contacts_glob_matches_nothing": "keepwarm: <path>: the pattern matches no file or folder\n"
                                     "  fix sources.files.contacts in <config>",
    "google_not_authorised": f"keepwarm: No Google token for <address> at <token>. Run {REAUTH}.",
    "client_secrets_missing": f"keepwarm: no OAuth client file at <path>: {CLIENT_HELP}",
    "client_secrets_not_json": "keepwarm: <path> is not JSON (Expecting value, line 1): "
                               f"{CLIENT_HELP}",
    "client_secrets_web_app": "keepwarm: <path> is the OAuth client of a 'Web application', "
                              f"which cannot sign in from this machine: {CLIENT_HELP}",
    "consent_fewer_scopes": "keepwarm: Google granted fewer scopes than keepwarm needs: "
                            "calendar.events.readonly, calendar.calendarlist.readonly not "
                            "granted. Tick every permission on the consent screen when you "
                            f"run {REAUTH} again.",
    "cold_before_any_run": "keepwarm: no warehouse at <warehouse> yet: run `keepwarm --config "
                           "<config> run` first",
    "warehouse_too_new": "keepwarm: <warehouse> has schema version 9999, written by a newer "
                         "keepwarm; this one knows versions up to <version>. Update keepwarm "
                         "(git pull, then python3 run.py demo to reinstall), or set "
                         "warehouse.path in keepwarm.yaml to another file. The warehouse was "
                         "not changed.",
    "model_older_than_keepwarm": "keepwarm: the warehouse was built by an earlier keepwarm "
                                 "(Table with name contact_people does not exist!); run "
                                 "`keepwarm --config <config> run` to rebuild it, then try "
                                 "again",
    "sql_syntax_error": 'keepwarm: Parser Error: syntax error at or near "selec"\n'
                        f"  check the query near that word; for example: {SQL_EXAMPLE}",
    "sql_unknown_table": "keepwarm: Catalog Error: Table with name relationship_status does not "
                         'exist! Did you mean "marts.relationship_status"?\n'
                         '  list the tables with: keepwarm sql "show all tables"',
    "sql_write": "keepwarm: keepwarm sql is read-only: DELETE cannot run on the serving copy; "
                 "change what keepwarm computes through keepwarm.yaml and `keepwarm run`",
    "sql_empty": f"keepwarm: the query is empty; for example: {SQL_EXAMPLE}",
    # The run started and a step failed: the step, its error, where the full log is; exit 1.
    "run_failed": "keepwarm: <step> failed: The Google token file <token> for <address> cannot "
                  f"be read as a token. Delete it and run {REAUTH}.\n"
                  "keepwarm: the run failed; `keepwarm run --verbose` shows Dagster's full log",
}


def expect(case: str, **values: Any) -> str:
    """The message of `case` with its placeholders filled, as printed (newline-ended)."""
    text = MESSAGES[case]
    for name, value in values.items():
        text = text.replace(f"<{name}>", str(value))
    assert "<" not in text.replace("<br>", ""), f"unfilled placeholder in {text!r}"
    return text + "\n"


def keepwarm(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return status, out, err


def files_config(tmp_path: Path, **files: Any) -> Path:
    path, _ = make_config(tmp_path, sources={"files": {"account": ACCOUNT, **files}})
    return path


# -- the config file ---------------------------------------------------------------------


def test_a_config_file_that_does_not_exist(tmp_path, capsys):
    config = tmp_path / "nope.yaml"
    assert keepwarm(capsys, "--config", config, "cold") == (
        2, "", expect("config_missing", config=config))


def test_a_config_file_that_is_not_yaml(tmp_path, capsys):
    config = tmp_path / "keepwarm.yaml"
    config.write_text("status:\n  as_of: [1\n x: 2\n")
    assert keepwarm(capsys, "--config", config, "run") == (
        2, "", expect("config_not_yaml", config=config))


def test_a_misspelt_key_names_the_nearest_real_one(tmp_path, capsys):
    config = tmp_path / "keepwarm.yaml"
    config.write_text("sourcs:\n  demo: {}\n")
    assert keepwarm(capsys, "--config", config, "run") == (
        2, "", expect("config_misspelt_key", config=config))


def test_a_value_out_of_range(tmp_path, capsys):
    config = tmp_path / "keepwarm.yaml"
    config.write_text("status:\n  cold_probability: 7\n")
    assert keepwarm(capsys, "--config", config, "run") == (
        2, "", expect("config_bad_value", config=config))


def test_keepwarms_own_checks_speak_without_pydantics_prefix(tmp_path, capsys):
    """A check keepwarm writes (a merge of one address, weights that do not add up) is
    reported in its own words, each under its key, never as "Value error, ..."."""
    config = tmp_path / "keepwarm.yaml"
    config.write_text("identities:\n  merge:\n    - [a@example.com]\n"
                      "strength:\n  frequency_weight: 0.9\n")
    assert keepwarm(capsys, "--config", config, "run") == (
        2, "", f"keepwarm: {config}: identities.merge: a merge needs at least two addresses, "
               "got ['a@example.com']; strength: strength weights must add up to 1, not 1.6\n")


def test_a_recurring_series_bound_that_is_not_positive(tmp_path, capsys):
    config = tmp_path / "keepwarm.yaml"
    config.write_text(f"sources:\n  files:\n    account: {ACCOUNT}\n"
                      "    max_instances_per_series: 0\n")
    assert keepwarm(capsys, "--config", config, "run") == (
        2, "", f"keepwarm: {config}: sources.files.max_instances_per_series: Input should be "
               "greater than or equal to 1\n")


def test_a_config_without_sources(tmp_path, capsys):
    config, _ = make_config(tmp_path)
    assert keepwarm(capsys, "--config", config, "run") == (
        2, "", expect("config_without_sources", config=config))


def test_an_unknown_command_through_the_installed_entry_point(tmp_path):
    """The real `keepwarm` script, as a user types it."""
    script = Path(sys.executable).with_name("keepwarm")
    done = subprocess.run([str(script), "frob"], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "COLUMNS": "200"}, timeout=120)
    assert done.returncode == 2
    # Python 3.12.8 stopped quoting argparse's choices: read them back, then compare.
    commands = re.search(r"\(choose from (.*)\)$", done.stderr.splitlines()[-1]).group(1)
    assert [c.strip("'") for c in commands.split(", ")] == [
        "run", "cold", "digest", "person", "auth", "ui", "sql", "evaluate", "log", "snooze",
        "ignore", "cadence"]
    assert done.stderr.splitlines()[-1] + "\n" == expect("unknown_command", commands=commands)
    assert len(done.stderr.splitlines()) == 2 and done.stdout == ""


def test_a_limit_that_is_not_positive(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--config", str(tmp_path / "keepwarm.yaml"), "cold", "--limit", "0"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.endswith(
        "keepwarm cold: error: argument --limit: 0 is not a positive whole number\n")


# -- the warehouse file, checked before the run starts ---------------------------------------


def test_a_warehouse_path_naming_another_kind_of_file_leaves_it_untouched(tmp_path, capsys):
    notes = tmp_path / "notes.duckdb"
    notes.write_text("my notes, not a database\n", encoding="utf-8")
    config, _ = make_config(tmp_path, sources=TINY_DEMO, warehouse={"path": str(notes)})
    # Running, recording an action, or reading: the same one message.
    for command in (["run"], ["log", "Ana"], ["cold"], ["sql", "select 1"]):
        assert keepwarm(capsys, "--config", config, *command) == (
            2, "", expect("warehouse_not_duckdb", path=notes, config=config))
    assert notes.read_text(encoding="utf-8") == "my notes, not a database\n"


def test_a_warehouse_path_naming_a_folder(tmp_path, capsys):
    folder = tmp_path / "data"
    folder.mkdir()
    config, _ = make_config(tmp_path, sources=TINY_DEMO, warehouse={"path": str(folder)})
    assert keepwarm(capsys, "--config", config, "run") == (
        2, "", expect("warehouse_is_a_folder", path=folder, config=config))


# -- mail and calendar files, checked before the run starts ------------------------------


def test_a_missing_mail_file(tmp_path, capsys):
    missing = tmp_path / "Takeout" / "All mail.mbox"
    config = files_config(tmp_path, mail=[str(missing)])
    assert keepwarm(capsys, "--config", config, "run") == (
        2, "", expect("mail_missing", path=missing, config=config))


def test_a_mail_pattern_that_matches_nothing(tmp_path, capsys):
    pattern = tmp_path / "Takeout" / "*.mbox"
    config = files_config(tmp_path, mail=[str(pattern)])
    assert keepwarm(capsys, "--config", config, "run") == (
        2, "", expect("mail_glob_matches_nothing", path=pattern, config=config))


def test_a_mail_glob_that_matches_no_mail(tmp_path, capsys):
    # A folder with no Maildir and a photo: a glob skips both, so nothing is left to read.
    (tmp_path / "photos" / "2024").mkdir(parents=True)
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"\xff\xd8\xff\xe0")
    pattern = tmp_path / "photos" / "**"
    config = files_config(tmp_path, mail=[str(pattern)])
    counts = ("1 file a glob matched that is not mail (no From_ line or mail header), "
              "2 folder a glob matched that holds no Maildir (no cur/ or new/)")
    assert keepwarm(capsys, "--config", config, "run") == (
        2, "", expect("mail_glob_matches_no_mail", path=pattern, counts=counts, config=config))


NOBODY = 65534


def _others_can_run(path: Path) -> bool:
    """Whether a user other than the owner reaches `path` (every folder above it o+x)."""
    return all(p.stat().st_mode & 0o001 for p in path.resolve().parents) and bool(
        path.resolve().stat().st_mode & 0o004)


@pytest.mark.skipif(os.geteuid() == 0 and not (
    shutil.which("setpriv") and _others_can_run(Path(sys.executable))
    and _others_can_run(ROOT / "pipelines" / "cli.py")),
    reason="root reads every file whatever its mode, and keepwarm cannot be run here as "
           "another user (no setpriv, or the checkout is private to root)")
def test_an_unreadable_mail_file(capsys):
    """As root, permission bits do not apply: the real `keepwarm` runs as nobody instead."""
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        folder.chmod(0o755)
        mail = folder / "All mail.mbox"
        shutil.copy(TAKEOUT, mail)
        mail.chmod(0o600 if os.geteuid() == 0 else 0)  # root's own, or nobody's
        config = files_config(folder, mail=[str(mail)])
        if os.geteuid() == 0:
            script = Path(sys.executable).with_name("keepwarm")
            done = subprocess.run(
                ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                 str(script), "--config", str(config), "run"],
                capture_output=True, text=True, timeout=120)
            result = (done.returncode, done.stdout, done.stderr)
            assert "Traceback" not in done.stderr
        else:
            result = keepwarm(capsys, "--config", config, "run")
        assert result == (2, "", expect("mail_unreadable", path=mail, config=config))


def test_a_folder_that_is_not_a_maildir(tmp_path, capsys):
    folder = tmp_path / "Mail"
    folder.mkdir()
    (folder / "notes.txt").write_text("not mail\n")
    config = files_config(tmp_path, mail=[str(folder)])
    assert keepwarm(capsys, "--config", config, "run") == (
        2, "", expect("mail_folder_not_maildir", path=folder, config=config))


def test_a_missing_calendar_file(tmp_path, capsys):
    shutil.copy(TAKEOUT, tmp_path / "mail.mbox")
    missing = tmp_path / "Calendar" / "me.ics"
    config = files_config(tmp_path, mail=[str(tmp_path / "mail.mbox")],
                          calendars=[str(missing)])
    assert keepwarm(capsys, "--config", config, "run") == (
        2, "", expect("calendar_missing", path=missing, config=config))


def test_a_vcard_glob_that_matches_nothing(tmp_path, capsys):
    pattern = tmp_path / "Takeout" / "Contacts" / "*.vcf"
    config = files_config(tmp_path, contacts=[str(pattern)])
    assert keepwarm(capsys, "--config", config, "run") == (
        2, "", expect("contacts_glob_matches_nothing", path=pattern, config=config))


def test_a_takeout_download_named_as_it_came_says_to_unpack_it(tmp_path, capsys):
    """Takeout's download is a .zip or .tgz; named as it is, it would be read as one
    unparseable message. Nothing is read or landed."""
    import gzip
    import tarfile
    import zipfile

    mbox = tmp_path / "All mail Including Spam and Trash.mbox"
    shutil.copy(TAKEOUT, mbox)
    download = tmp_path / "takeout-20261206T000000Z-001.zip"
    with zipfile.ZipFile(download, "w") as archive:
        archive.write(mbox, f"Takeout/Mail/{mbox.name}")
    config = files_config(tmp_path, mail=[str(download)])
    assert keepwarm(capsys, "--config", config, "run") == (
        2, "", expect("mail_is_an_archive", path=download, config=config))

    calendar = tmp_path / "takeout-001.tgz"
    with tarfile.open(calendar, "w:gz") as archive:
        archive.add(mbox, "Takeout/Calendar/x.ics")
    with gzip.open(calendar) as stream:
        assert stream.read(1)  # a real gzip stream
    config = files_config(tmp_path, calendars=[str(calendar)])
    assert keepwarm(capsys, "--config", config, "run") == (
        2, "", expect("calendar_is_an_archive", path=calendar, config=config))
    assert not (tmp_path / "keepwarm.duckdb").exists()


def test_a_folder_where_a_calendar_file_belongs(tmp_path, capsys):
    folder = tmp_path / "Calendar"
    folder.mkdir()
    config = files_config(tmp_path, calendars=[str(folder)])
    assert keepwarm(capsys, "--config", config, "run") == (
        2, "", expect("calendar_is_a_folder", path=folder, config=config))


def test_a_missing_file_inside_a_run_fails_its_step_in_one_line(tmp_path):
    """The UI and the schedule skip the CLI's check: the step says it as a Failure."""
    missing = tmp_path / "Takeout" / "All mail.mbox"
    config = files_config(tmp_path, mail=[str(missing)])
    result = materialize_everything(config, instance=DagsterInstance.ephemeral(),
                                    parallel=False)
    failures = [e.step_failure_data for e in result.all_events if e.is_step_failure]
    assert [f.error.cls_name for f in failures] == ["Failure"]
    assert failures[0].user_failure_data.description == (
        f"{missing}: no such file or folder; fix sources.files in {config}")
    assert failures[0].error.cause is None  # no chained traceback of the reader


# -- Google sign-in --------------------------------------------------------------------


def test_a_gmail_account_never_authorised(tmp_path, capsys):
    token = tmp_path / "tokens" / "ana.json"
    config, _ = make_config(tmp_path, sources={"gmail": {"accounts": [
        {"address": ACCOUNT, "token_file": str(token)}]}})
    assert keepwarm(capsys, "--config", config, "run") == (
        2, "", expect("google_not_authorised", address=ACCOUNT, token=token))


def test_a_failed_run_names_the_step_and_its_error(tmp_path, capsys):
    """A damaged token passes the check before the run; the run's step fails on it."""
    token = tmp_path / "ana.json"
    token.write_text("not a token")
    token.chmod(0o600)
    config, _ = make_config(tmp_path, sources={"gmail": {"accounts": [
        {"address": ACCOUNT, "token_file": str(token)}]}})
    status, _, err = keepwarm(capsys, "--config", config, "run")
    step = "landing__mailboxes.land_mailbox[gmail_ana_example_com]"
    assert (status, err) == (1, expect("run_failed", step=step, token=token, address=ACCOUNT))


@pytest.fixture
def auth_config(tmp_path: Path) -> Path:
    return make_config(tmp_path)[0]


def test_client_secrets_that_do_not_exist(tmp_path, capsys, auth_config):
    secrets = tmp_path / "client_secret.json"
    assert keepwarm(capsys, "--config", auth_config, "auth", "google", "--account", ACCOUNT,
                    "--client-secrets", secrets) == (
        2, "", expect("client_secrets_missing", path=secrets))


def test_client_secrets_that_are_not_json(tmp_path, capsys, auth_config):
    secrets = tmp_path / "client_secret.json"
    secrets.write_text("<html>Sign in</html>")  # a download page saved instead of the file
    assert keepwarm(capsys, "--config", auth_config, "auth", "google", "--account", ACCOUNT,
                    "--client-secrets", secrets) == (
        2, "", expect("client_secrets_not_json", path=secrets))


def test_client_secrets_of_a_web_application(tmp_path, capsys, auth_config):
    secrets = tmp_path / "client_secret.json"
    secrets.write_text(json.dumps({"web": {
        "client_id": "cid.apps.googleusercontent.com", "client_secret": "s",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token"}}))
    assert keepwarm(capsys, "--config", auth_config, "auth", "google", "--account", ACCOUNT,
                    "--client-secrets", secrets) == (
        2, "", expect("client_secrets_web_app", path=secrets))


def test_a_consent_that_grants_fewer_scopes_than_asked(tmp_path, capsys, monkeypatch,
                                                       auth_config, calendar_emulator):
    """The user unticks Calendar on the consent screen: Google's token answer names only
    Gmail. oauthlib alone would raise "Scope has changed"; keepwarm names what is missing."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the emulator speaks http
    monkeypatch.delenv("OAUTHLIB_RELAX_TOKEN_SCOPE", raising=False)
    calendar_emulator.scopes = set(GMAIL_SCOPES)  # what the consent grants
    asked: dict[str, list[str]] = {}

    def allow(url: str, *_: Any, **__: Any) -> bool:
        asked.update(urllib.parse.parse_qs(urllib.parse.urlsplit(url).query))
        answer = {"code": "code-1", "state": asked["state"][0], "scope": " ".join(GMAIL_SCOPES)}
        callback = f"{asked['redirect_uri'][0]}?{urllib.parse.urlencode(answer)}"
        threading.Thread(target=urllib.request.urlopen, args=(callback,)).start()
        return True

    browser = type("Browser", (), {"open": staticmethod(allow)})()
    monkeypatch.setattr(webbrowser, "get", lambda *_: browser)
    secrets = tmp_path / "client_secret.json"
    secrets.write_text(json.dumps({"installed": {
        "client_id": "cid.apps.googleusercontent.com", "client_secret": "client-secret-value",
        "auth_uri": calendar_emulator.endpoint + "auth",
        "token_uri": calendar_emulator.endpoint + "token",
        "redirect_uris": ["http://localhost"]}}))
    token = tmp_path / "tokens" / "ana.json"
    status, out, err = keepwarm(capsys, "--config", auth_config, "auth", "google", "--account",
                                ACCOUNT, "--calendar", "--client-secrets", secrets,
                                "--token-file", token)
    assert (status, err) == (2, expect("consent_fewer_scopes", address=ACCOUNT))
    assert out.startswith("Please visit this URL")  # google-auth-oauthlib's own line
    assert len(asked["scope"][0].split()) == 3  # Gmail and both Calendar scopes were asked
    assert not token.exists()
    assert "OAUTHLIB_RELAX_TOKEN_SCOPE" not in os.environ  # put back as it was


# -- reading the warehouse ---------------------------------------------------------------


def test_cold_before_any_run(tmp_path, capsys):
    config, loaded = make_config(tmp_path, sources=TINY_DEMO)
    assert keepwarm(capsys, "--config", config, "cold") == (
        2, "", expect("cold_before_any_run", warehouse=loaded.warehouse.path, config=config))


def test_a_warehouse_written_by_a_newer_keepwarm(tmp_path, capsys):
    config, loaded = make_config(tmp_path, sources=TINY_DEMO)
    with duckdb.connect(loaded.warehouse.path) as con:
        ensure_schema(con)
        con.execute("insert into meta.schema_migrations (version, name, checksum) "
                    "values (9999, 'from_the_future', 'x')")
    version = migrations()[-1].version
    for command in (["run"], ["log", "ana@example.com"]):
        assert keepwarm(capsys, "--config", config, *command) == (
            2, "", expect("warehouse_too_new", warehouse=loaded.warehouse.path, version=version))
    with duckdb.connect(loaded.warehouse.path, read_only=True) as con:
        assert con.execute("select max(version) from meta.schema_migrations").fetchall() == [
            (9999,)]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> tuple[Path, Any]:
    """A tiny demo network, run once through the real command."""
    tmp = tmp_path_factory.mktemp("warehouse")
    config, loaded = make_config(
        tmp, me={"addresses": ["alex@northwind.example", "alex.morgan@gmail.com"]},
        sources=TINY_DEMO, status=AS_OF)
    assert main(["--config", str(config), "run", "--limit", "1"]) == 0
    return config, loaded


def test_a_read_command_on_a_model_an_earlier_keepwarm_built(warehouse, tmp_path, capsys):
    """After an upgrade and before the next run: the digest names the fix, no traceback."""
    _, loaded = warehouse
    config, copied = make_config(tmp_path, sources=TINY_DEMO, status=AS_OF)
    shutil.copy(loaded.warehouse.path, copied.warehouse.path)
    shutil.copy(loaded.warehouse.serving_path, copied.warehouse.serving_path)
    with duckdb.connect(copied.warehouse.serving_path) as con:
        con.execute("drop table core.contact_people")  # as a model built before it existed
    assert keepwarm(capsys, "--config", config, "digest") == (
        2, "", expect("model_older_than_keepwarm", config=config))


@pytest.mark.parametrize(("case", "query"), [
    ("sql_syntax_error", "selec * from marts.relationship_status"),
    ("sql_unknown_table", "select * from relationship_status"),
    ("sql_write", "delete from marts.relationship_status"),
    ("sql_empty", "  ;  "),
])
def test_sql_mistakes(warehouse, capsys, case, query):
    config, loaded = warehouse
    assert keepwarm(capsys, "--config", config, "sql", query) == (2, "", expect(case))
    with duckdb.connect(loaded.warehouse.serving_path, read_only=True) as con:
        assert con.execute("select count(*) from marts.relationship_status").fetchall()[0][0]


def test_sql_an_unknown_column_keeps_duckdbs_candidates(warehouse, capsys):
    config, _ = warehouse
    status, out, err = keepwarm(capsys, "--config", config, "sql",
                                "select display_nam from marts.relationship_status")
    first, hint = err.splitlines()
    assert status == 2 and out == ""
    assert first.startswith('keepwarm: Binder Error: Referenced column "display_nam" not found')
    assert '"display_name"' in first
    assert hint == '  list a table\'s columns with: keepwarm sql "describe SCHEMA.TABLE"'


# -- width and cut lists -----------------------------------------------------------------


def test_cold_fits_80_columns_and_says_when_the_list_is_cut(warehouse, capsys, monkeypatch):
    config, loaded = warehouse
    monkeypatch.setenv("COLUMNS", "80")
    with duckdb.connect(loaded.warehouse.serving_path, read_only=True) as con:
        expected = con.execute("""
            select display_name, reason, next_step from marts.relationship_status
            where status in ('cold', 'cooling') order by attention_rank""").fetchall()
    assert len(expected) >= 2, "the tiny demo must list at least two people"
    status, out, _ = keepwarm(capsys, "--config", config, "cold", "--limit", "2")
    assert status == 0
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    # The wrapped reasons and next steps read back word for word.
    printed = re.findall(r"^    why: (.*(?:\n {9}.*)*)\n    next: (.*(?:\n {10}.*)*)$", out,
                         flags=re.MULTILINE)
    assert [(" ".join(why.split()), " ".join(nxt.split())) for why, nxt in printed] == [
        (" ".join(r.split()), " ".join(n.split())) for _, r, n in expected[:2]]
    assert lines[-1] == f"2 of {len(expected)} shown; --limit {len(expected)} to see them all"

    status, out, _ = keepwarm(capsys, "--config", config, "cold", "--limit", "1000")
    assert status == 0 and "shown; --limit" not in out


def test_sql_fits_80_columns_and_says_when_rows_are_cut(warehouse, capsys, monkeypatch):
    config, loaded = warehouse
    monkeypatch.setenv("COLUMNS", "80")
    query = "select * from marts.relationship_status"
    status, out, _ = keepwarm(capsys, "--config", config, "sql", query, "--max-rows", "4")
    assert status == 0
    assert max(len(line) for line in out.splitlines()) <= 80
    with duckdb.connect(loaded.warehouse.serving_path, read_only=True) as con:
        rows = con.execute("select count(*) from marts.relationship_status").fetchall()[0][0]
    assert f"{rows} rows (4 shown)" in out
    assert out.splitlines()[-1] == "--max-rows 4 cut the list: raise it to see more rows"

    status, out, _ = keepwarm(capsys, "--config", config, "sql", query,
                              "--max-rows", str(rows))
    assert status == 0 and "cut the list" not in out


def test_evaluate_fits_80_columns(tmp_path, capsys):
    config, _ = make_config(tmp_path, sources=TINY_DEMO)
    status, out, _ = keepwarm(capsys, "--config", config, "evaluate", "--seeds", "7",
                              "--end", "2026-06-01")
    lines = out.splitlines()
    assert status == 0 and max(len(line) for line in lines) <= 80
    seed, pooled = lines[-2].split(), lines[-1].split()
    assert seed[0] == "7" and pooled[0] == "all"
    assert seed[1:] == pooled[1:]  # one seed: the pooled scores are its own
    assert lines[2].split() == ["seed", "flagged", "planted", "correct", "prec.", "recall",
                                "flagged", "prec.", "recall", "prec.", "recall"]


# -- help ----------------------------------------------------------------------------------


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _parsers(sub)
    return found


def test_every_option_has_help_that_shows_its_default():
    parsers = _parsers(build_parser())
    # keepwarm, run, cold, digest, person, auth, auth google, ui, sql, evaluate, log, snooze,
    # ignore, cadence
    assert len(parsers) == 14
    for parser in parsers:
        for action in parser._actions:
            if action.dest == "help" or not action.option_strings:
                continue
            text = action.help or ""
            assert text, f"{parser.prog} {action.option_strings} has no help"
            assert "(default:" in text or "(required)" in text, (parser.prog, text)


# -- the README's Troubleshooting table -------------------------------------------------------


def _readme_messages() -> list[str]:
    section = README.read_text(encoding="utf-8").split("\n## Troubleshooting\n", 1)[1]
    section = section.split("\n## ", 1)[0]
    messages = []
    for row in section.splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[1].startswith("`"):
            continue
        lines = [re.sub(r"^(`+) ?(.*?) ?\1$", r"\2", part.strip())
                 for part in cells[1].split("<br>")]
        messages.append("\n".join(lines))
    return messages


def test_the_readme_lists_exactly_the_messages_the_tests_assert():
    normalised = {"\n".join(line.strip() for line in m.splitlines()) for m in MESSAGES.values()}
    readme = _readme_messages()
    assert len(readme) == len(set(readme))
    assert set(readme) == normalised
    source = Path(__file__).read_text(encoding="utf-8")
    for case in MESSAGES:  # each message is produced by a test, not only listed
        assert f'expect("{case}"' in source or f'("{case}", ' in source, case
