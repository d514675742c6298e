"""raw.contacts keeps one row per contact version; a People sync against the emulator
lands in a real DuckDB file exactly, killed or not."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import duckdb
import pytest
from google.oauth2.credentials import Credentials

from connectors.contacts import ContactGroupRecord, ContactRecord
from connectors.google import QuotaLimiter, RetryPolicy
from connectors.google.people import sync_contacts
from connectors.google.people_api import build_people_service
from engine.contacts import apply_contacts, stored_contact_keys
from engine.warehouse import ensure_schema, load_cursor
from tests.connectors.test_people_sync import EXPECTED, ME, PEOPLE, alex_book

pytest_plugins = ["tests.emulators.plugin"]

T1 = datetime(2026, 1, 1, tzinfo=UTC)
T2 = datetime(2026, 2, 1, tzinfo=UTC)


@pytest.fixture
def con(tmp_path):
    connection = duckdb.connect(str(tmp_path / "kw.duckdb"))
    ensure_schema(connection)
    yield connection
    connection.close()


def _jo(org: str, title: str, etag: str) -> ContactRecord:
    return ContactRecord(ME, "vcard", "jo", etag, "Jo Chen", ("jo@x.example",), org, title)


def test_versions_are_added_only_when_stored_values_change(con):
    apply_contacts(con, ME, "vcard", [_jo("Client Ltd", "CTO", "a")], now=T1)
    same = apply_contacts(con, ME, "vcard", [_jo("Client Ltd", "CTO", "b")], now=T2)
    assert (same.versions, same.unchanged) == (0, 1)  # a new etag alone is no new version
    moved = apply_contacts(con, ME, "vcard", [_jo("Fabrikam", "VP", "c")], now=T2)
    assert moved.versions == 1
    gone = apply_contacts(con, ME, "vcard", [], deleted_keys=["jo", "never-seen"], now=T2)
    assert gone.deleted == 1
    rows = con.execute(
        "select version, deleted, organization, title, seen_at from raw.contacts "
        "where contact_key = 'jo' order by version"
    ).fetchall()
    assert rows == [
        (1, False, "Client Ltd", "CTO", T1),
        (2, False, "Fabrikam", "VP", T2),
        (3, True, None, None, T2),
    ]
    assert stored_contact_keys(con, ME, "vcard") == []


def test_groups_are_replaced_whole(con):
    first = [ContactGroupRecord(ME, "vcard", "Family", "Family", "USER_CONTACT_GROUP")]
    apply_contacts(con, ME, "vcard", [], groups=first, now=T1)
    second = [ContactGroupRecord(ME, "vcard", "Clients", "Clients", "USER_CONTACT_GROUP")]
    apply_contacts(con, ME, "vcard", [], groups=second, now=T2)
    assert con.execute("select group_key, name from raw.contact_groups").fetchall() == [
        ("Clients", "Clients")
    ]
    comments = con.execute(
        "select count(*) from duckdb_columns() where schema_name = 'raw' "
        "and table_name in ('contacts', 'contact_groups') and comment is null"
    ).fetchone()
    assert comments == (0,)


def _sync(con, emulator, limit=None, page_size=2):
    service = build_people_service(Credentials(token="t"), emulator.endpoint)
    batches = sync_contacts(
        service,
        ME,
        load_cursor(con, ME, "gcontacts", "connections"),
        limiter=QuotaLimiter.for_ceiling(10**9),
        retry=RetryPolicy(base_delay=0.001, max_delay=0.01),
        known_contacts=lambda: stored_contact_keys(con, ME, "gcontacts"),
        page_size=page_size,
    )
    n = 0
    try:
        for b in batches:
            apply_contacts(
                con, ME, "gcontacts", b.contacts,
                deleted_keys=[k for _, k in b.deleted_contact_keys],
                groups=b.groups, quarantine=b.quarantine, cursor=b.cursor,
            )  # fmt: skip
            n += 1
            if limit is not None and n >= limit:
                break
    finally:
        batches.close()
    return n


def test_a_people_sync_killed_after_each_page_lands_every_contact_once(
    con, people_emulator_factory
):
    emulator = people_emulator_factory()
    emulator.add_book(alex_book(), token="t")
    for _ in range(10):
        _sync(con, emulator, limit=1)
    rows = con.execute(
        "select contact_key, version, display_name, emails, organization, birthday "
        "from raw.contacts order by contact_key, version"
    ).fetchall()
    assert rows == [
        (k, 1, r.display_name, list(r.emails), r.organization, r.birthday)
        for k, r in sorted(EXPECTED.items())
    ]
    # Jo Chen changes jobs: one more version, the first kept.
    moved = copy.deepcopy(PEOPLE["people/c2"])
    moved["organizations"] = [{"name": "Fabrikam", "title": "VP Engineering"}]
    emulator.books[ME].put("people/c2", moved)
    _sync(con, emulator)
    assert con.execute(
        "select version, organization, title from raw.contacts "
        "where contact_key = 'people/c2' order by version"
    ).fetchall() == [(1, "Client Ltd", "CTO"), (2, "Fabrikam", "VP Engineering")]
    assert con.execute("select count(*) from raw.contact_groups").fetchone() == (3,)
