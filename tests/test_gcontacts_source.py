"""Google Contacts through Dagster: the configured account's token, real HTTP to the People
emulator, a real DuckDB file; full sync, then sync-token increments, then an expired token,
each said in the run metadata of raw/contacts."""

from __future__ import annotations

from pathlib import Path

import duckdb
from dagster import DagsterInstance

from pipelines.definitions import materialize_everything
from tests.conftest import make_config
from tests.connectors.test_people_sync import CLIENTS, ME, OTHER, alex_book
from tests.emulators.people import CONTACTS_SCOPE, OTHER_CONTACTS_SCOPE
from tests.test_gmail_source import token_file

pytest_plugins = ["tests.emulators.plugin"]


def run(path: Path) -> dict:
    result = materialize_everything(path, instance=DagsterInstance.ephemeral(), parallel=False)
    assert result.success
    meta = {e.asset_key.to_user_string(): e.materialization.metadata
            for e in result.get_asset_materialization_events()}
    return meta["raw/contacts"]


def latest(con: duckdb.DuckDBPyConnection) -> dict[str, tuple]:
    return {key: tuple(rest) for key, *rest in con.execute(
        "select contact_key, version, deleted, display_name, organization, title "
        "from raw.contacts where source = 'gcontacts' and account = $a "
        "qualify row_number() over (partition by contact_key order by version desc) = 1",
        {"a": ME}).fetchall()}


def mbox(tmp_path: Path) -> Path:
    """Mail from Sam (both addresses) and Jo, so that the model has people to name."""
    messages = [("sam.rivera@home.example", "Mon, 02 Nov 2026 10:00:00 +0000", "1"),
                ("sam@work.example", "Tue, 03 Nov 2026 10:00:00 +0000", "2"),
                ("jo@client.example", "Wed, 04 Nov 2026 10:00:00 +0000", "3")]
    path = tmp_path / "mail.mbox"
    path.write_text("".join(
        f"From {sender} Mon Nov  2 10:00:00 2026\nFrom: {sender}\nTo: {ME}\nDate: {date}\n"
        f"Message-ID: <{n}@example.com>\n\nhello\n\n" for sender, date, n in messages))
    return path


def test_contacts_sync_with_the_accounts_token_then_incrementally_then_after_expiry(
        people_emulator_factory, tmp_path):
    emulator = people_emulator_factory()
    book = emulator.add_book(alex_book(), token="test-token")
    path, config = make_config(
        tmp_path, me={"addresses": [ME]}, status={"as_of": "2026-11-10T00:00:00+00:00"},
        sources={"gcontacts": {"accounts": [{"address": ME,
                                             "token_file": str(token_file(tmp_path, ME))}],
                               "api_endpoint": emulator.endpoint},
                 "files": {"account": ME, "mail": [str(mbox(tmp_path))]}},
    )

    first = run(path)
    assert first[f"gcontacts/{ME}"].value["mode"] == "full"
    # c1..c5 of the hand-written book; c3 has no address but is still a contact.
    assert first["versions"].value == 5
    with duckdb.connect(config.warehouse.path, read_only=True) as con:
        assert latest(con) == {
            "people/c1": (1, False, "Sam Rivera", "Northwind", "Lead Engineer"),
            "people/c2": (1, False, "Jo Chen", "Client Ltd", "CTO"),
            "people/c3": (1, False, "No Mail", None, None),
            "people/c4": (1, False, "Bad Date", None, None),
            "people/c5": (1, False, None, None, None),
        }
        assert con.execute("select name from raw.contact_groups where group_key = $g",
                           {"g": CLIENTS}).fetchall() == [("Clients",)]
        # Both of Sam's addresses are one person, named by the contact.
        assert con.execute(
            "select p.display_name, list_sort(list(i.address)) from core.identities i "
            "join core.people p using (person_id) where i.address like '%sam%' group by all"
        ).fetchall() == [("Sam Rivera", ["sam.rivera@home.example", "sam@work.example"])]

    # Jo moves on and c5 is deleted: the sync token returns just those two.
    jo = alex_book().people["people/c2"].fields
    book.put("people/c2", {**jo, "organizations": [{"name": "Fabrikam", "title": "CEO"}]})
    book.delete("people/c5")
    second = run(path)
    report = second[f"gcontacts/{ME}"].value
    assert (report["mode"], report["contacts"], report["deletions"]) == ("incremental", 1, 1)
    assert report["calls"] == {"connections.list": 1, "contactGroups.list": 1}
    with duckdb.connect(config.warehouse.path, read_only=True) as con:
        stored = latest(con)
        assert stored["people/c2"] == (2, False, "Jo Chen", "Fabrikam", "CEO")
        assert stored["people/c5"][:2] == (2, True)
        assert con.execute(
            "select from_organization, from_title, to_organization, to_title, source "
            "from marts.job_changes").fetchall() == [
            ("Client Ltd", "CTO", "Fabrikam", "CEO", "gcontacts")]

    # A week later the token has expired: a full listing again, said so in the metadata.
    book.expire_sync_tokens()
    third = run(path)
    assert third[f"gcontacts/{ME}"].value["mode"] == "full_after_expiry"
    assert third["versions"].value == 0  # nothing changed, so no new version
    with duckdb.connect(config.warehouse.path, read_only=True) as con:
        assert latest(con) == stored


def test_one_token_carries_the_contacts_scope_of_the_address(tmp_path):
    from connectors.google import google_scopes

    _, config = make_config(tmp_path, sources={
        "gmail": {"accounts": [{"address": ME}]},
        "gcontacts": {"accounts": [{"address": ME}]},
    })
    sources = config.sources.google_sources(ME)
    assert sources == {"gmail": True, "calendar": False, "contacts": True,
                       "other_contacts": False}
    assert google_scopes(**sources) == [
        "https://www.googleapis.com/auth/gmail.metadata",
        "https://www.googleapis.com/auth/contacts.readonly",
    ]
    # Other contacts ask for their own scope, only when turned on.
    _, config = make_config(tmp_path, sources={
        "gcontacts": {"accounts": [{"address": ME}], "other_contacts": True}})
    assert google_scopes(**config.sources.google_sources(ME)) == [
        "https://www.googleapis.com/auth/contacts.readonly",
        "https://www.googleapis.com/auth/contacts.other.readonly",
    ]


def test_other_contacts_land_beside_the_address_book_when_turned_on(
        people_emulator_factory, tmp_path):
    emulator = people_emulator_factory()
    book = emulator.add_book(alex_book())
    book.put_other("otherContacts/o1", OTHER["otherContacts/o1"])
    emulator.grant("test-token", ME, [CONTACTS_SCOPE, OTHER_CONTACTS_SCOPE])
    path, config = make_config(
        tmp_path, me={"addresses": [ME]},
        sources={"gcontacts": {"accounts": [{"address": ME,
                                             "token_file": str(token_file(tmp_path, ME))}],
                               "other_contacts": True, "api_endpoint": emulator.endpoint},
                 "files": {"account": ME, "mail": [str(mbox(tmp_path))]}},
    )
    meta = run(path)
    assert meta[f"gcontacts/{ME}"].value["mode"] == "full"
    assert meta[f"gcontacts/{ME}/other"].value["mode"] == "full"
    with duckdb.connect(config.warehouse.path, read_only=True) as con:
        stored = latest(con)
        assert len(stored) == 6
        assert stored["otherContacts/o1"] == (1, False, "Ravi Saved", None, None)
        # Each stream keeps its own cursor.
        assert con.execute("select stream from raw.sync_state where source = 'gcontacts' "
                           "order by 1").fetchall() == [("connections",), ("other_contacts",)]

    # An expired token on the address book prunes only the address book's keys.
    book.expire_sync_tokens()
    again = run(path)
    assert again[f"gcontacts/{ME}"].value["mode"] == "full_after_expiry"
    assert again[f"gcontacts/{ME}"].value["pruned"] == 0
    with duckdb.connect(config.warehouse.path, read_only=True) as con:
        assert latest(con) == stored
