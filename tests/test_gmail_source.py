"""The Gmail source through Dagster: a real client, real HTTP to the emulator, a real file."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
from dagster import DagsterInstance
from google.oauth2.credentials import Credentials

from connectors.google import save_credentials
from pipelines.definitions import materialize_everything
from tests.conftest import make_config
from tests.emulators.helpers import ACCOUNT, TAKEOUT_MBOX, mbox_mailbox

pytest_plugins = ["tests.emulators.plugin"]


def token_file(tmp_path: Path, account: str = ACCOUNT) -> Path:
    path = tmp_path / "tokens" / f"{account}.json"
    path.parent.mkdir(exist_ok=True)
    # The emulator accepts this bearer token; the refresh fields make it a real token file.
    save_credentials(
        Credentials(token="test-token", refresh_token="refresh", client_id="client",
                    client_secret="secret", token_uri="https://oauth2.googleapis.com/token",
                    expiry=(datetime.now(UTC) + timedelta(days=1)).replace(tzinfo=None)),
        path,
    )
    return path


def run(path: Path) -> dict:
    """The metadata of raw/messages, with that of landing/mailboxes (the sync report)."""
    result = materialize_everything(path, instance=DagsterInstance.ephemeral(), parallel=False)
    assert result.success
    meta = {e.asset_key.to_user_string(): e.materialization.metadata
            for e in result.get_asset_materialization_events()}
    return meta["landing/mailboxes"] | meta["raw/messages"]


def test_gmail_accounts_sync_fully_then_incrementally(gmail_emulator, tmp_path):
    box = gmail_emulator.add_mailbox(mbox_mailbox(TAKEOUT_MBOX))
    token = token_file(tmp_path)
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    path, config = make_config(
        tmp_path, me={"addresses": [ACCOUNT]},
        sources={"gmail": {"accounts": [{"address": ACCOUNT, "token_file": str(token)}],
                           "api_endpoint": gmail_emulator.endpoint}},
    )

    first = run(path)
    report = first[f"gmail/{ACCOUNT}"].value
    assert report["mode"] == "full" and first["loaded_this_run"].value == len(box.messages)
    with duckdb.connect(config.warehouse.path, read_only=True) as con:
        stored = dict(con.execute(
            "select message_key, thread_key from raw.messages where source = 'gmail'"
        ).fetchall())
        ties = con.execute("select count(*) from marts.contact_metrics where is_tie"
                           ).fetchall()[0][0]
    assert stored == {key: m.thread_id for key, m in box.messages.items()}
    assert ties > 0

    new = box.add_message([("From", "Nia Park <nia@example.net>"), ("To", ACCOUNT)],
                          labels=["INBOX"])
    second = run(path)
    assert second[f"gmail/{ACCOUNT}"].value["mode"] == "incremental"
    assert second["loaded_this_run"].value == 1
    with duckdb.connect(config.warehouse.path, read_only=True) as con:
        assert con.execute("select from_addrs[1].name from raw.messages "
                           "where message_key = $k", {"k": new}).fetchall() == [("Nia Park",)]


def test_a_resync_after_expired_history_prunes_with_the_keys_the_mailbox_landed(
    gmail_emulator, tmp_path
):
    box = gmail_emulator.add_mailbox(mbox_mailbox(TAKEOUT_MBOX))
    token = token_file(tmp_path)
    path, config = make_config(
        tmp_path, me={"addresses": [ACCOUNT]},
        sources={"gmail": {"accounts": [{"address": ACCOUNT, "token_file": str(token)}],
                           "api_endpoint": gmail_emulator.endpoint}},
    )
    run(path)
    gone = next(iter(box.messages))
    box.delete_message(gone)
    box.expire_history()  # the deletion's history record is lost with the rest

    resynced = run(path)
    assert resynced[f"gmail/{ACCOUNT}"].value["mode"] == "full_after_404"
    with duckdb.connect(config.warehouse.path, read_only=True) as con:
        stored = {key for (key,) in con.execute(
            "select message_key from raw.messages where source = 'gmail'").fetchall()}
    assert stored == set(box.messages) and gone not in stored
