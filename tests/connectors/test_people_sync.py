"""The People connector against the emulator: real HTTP, real googleapiclient.

The expected records are written out by hand from the address book below, not derived
from the connector's parsing: a change in either shows up as a difference.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from google.oauth2.credentials import Credentials

from connectors.google import QuotaLimiter, RetryPolicy
from connectors.google.auth import AuthError
from connectors.google.people import OTHER_STREAM, ContactBatch, PeopleSyncReport, sync_contacts
from connectors.google.people_api import PERSON_FIELDS, build_people_service
from connectors.google.people_records import ContactGroupRecord, ContactRecord
from connectors.google.quota import ScaledClock
from tests.emulators.http import FaultPlan
from tests.emulators.people import (
    CONTACTS_SCOPE,
    OTHER_CONTACTS_SCOPE,
    AddressBook,
    PeopleEmulator,
)

pytest_plugins = ["tests.emulators.plugin"]

ME = "alex@example.com"
FAST_RETRY = RetryPolicy(base_delay=0.001, max_delay=0.01)
FAMILY, CLIENTS = "contactGroups/family1", "contactGroups/clients2"


def _email(value: str, primary: bool = False) -> dict[str, Any]:
    return {"value": value, "metadata": {"primary": primary}}


PEOPLE: dict[str, dict[str, Any]] = {
    "people/c1": {
        "names": [{"displayName": "Sam Rivera", "metadata": {"primary": True}}],
        "emailAddresses": [_email("sam@work.example"), _email("Sam.Rivera@home.example", True)],
        "organizations": [
            {"name": "Old Co", "title": "Analyst", "endDate": {"year": 2020}},
            {"name": "Northwind", "title": "Lead Engineer"},
        ],
        "birthdays": [{"date": {"month": 3, "day": 9}}],
        "memberships": [
            {"contactGroupMembership": {"contactGroupResourceName": FAMILY}},
            {"contactGroupMembership": {"contactGroupResourceName": "contactGroups/myContacts"}},
        ],
        "phoneNumbers": [{"value": "+1 555 0100"}],
        "addresses": [{"formattedValue": "1 Main St"}],
        "biographies": [{"value": "a private note"}],
        "photos": [{"url": "https://example.invalid/p.jpg"}],
    },
    "people/c2": {
        "names": [{"displayName": "Jo Chen"}],
        "emailAddresses": [_email("jo@client.example", True)],
        "organizations": [{"name": "Client Ltd", "title": "CTO"}],
        "birthdays": [{"date": {"year": 1984, "month": 11, "day": 30}}],
        "events": [{"type": "anniversary", "date": {"year": 2015, "month": 6, "day": 20}}],
        "memberships": [{"contactGroupMembership": {"contactGroupResourceName": CLIENTS}}],
    },
    "people/c3": {"names": [{"displayName": "No Mail"}], "phoneNumbers": [{"value": "1"}]},
    "people/c4": {
        "names": [{"displayName": "Bad Date"}],
        "emailAddresses": [_email("bd@x.example", True), _email("BD@x.example")],
        "birthdays": [{"date": {"month": 13, "day": 1}}, {"text": "sometime"}],
    },
    "people/c5": {"emailAddresses": [_email("anon@x.example")]},
}

EXPECTED = {
    "people/c1": ContactRecord(
        ME, "gcontacts", "people/c1", "%E1", "Sam Rivera",
        ("sam.rivera@home.example", "sam@work.example"), "Northwind", "Lead Engineer",
        "--03-09", (), (FAMILY, "contactGroups/myContacts"),
    ),
    "people/c2": ContactRecord(
        ME, "gcontacts", "people/c2", "%E2", "Jo Chen", ("jo@client.example",),
        "Client Ltd", "CTO", "1984-11-30", (("anniversary", "2015-06-20"),), (CLIENTS,),
    ),
    "people/c3": ContactRecord(ME, "gcontacts", "people/c3", "%E3", "No Mail"),
    "people/c4": ContactRecord(
        ME, "gcontacts", "people/c4", "%E4", "Bad Date", ("bd@x.example",)
    ),
    "people/c5": ContactRecord(
        ME, "gcontacts", "people/c5", "%E5", None, ("anon@x.example",)
    ),
}  # fmt: skip


def alex_book() -> AddressBook:
    book = AddressBook(ME)
    for key, fields in PEOPLE.items():
        book.put(key, fields)
    book.add_group(FAMILY, "Family")
    book.add_group(CLIENTS, "Clients")
    book.add_group("contactGroups/myContacts", "myContacts", "SYSTEM_CONTACT_GROUP")
    return book


class Store:
    """The latest version of each contact, the groups and the cursor, as applied."""

    def __init__(self) -> None:
        self.contacts: dict[str, ContactRecord] = {}
        self.groups: list[ContactGroupRecord] = []
        self.cursor: dict | None = None
        self.versions: list[ContactRecord] = []

    def apply(self, batch: ContactBatch) -> None:
        for record in batch.contacts:
            if self.contacts.get(record.contact_key) != record:
                self.versions.append(record)
            self.contacts[record.contact_key] = record
        for _, key in batch.deleted_contact_keys:
            self.contacts.pop(key, None)
        if batch.groups is not None:
            self.groups = batch.groups
        assert batch.cursor is not None
        self.cursor = copy.deepcopy(batch.cursor.value)

    def run(self, service: Any, limit: int | None = None, **kwargs: Any) -> PeopleSyncReport:
        report = PeopleSyncReport(ME)
        kwargs.setdefault("limiter", QuotaLimiter.for_ceiling(10**9))
        kwargs.setdefault("retry", FAST_RETRY)
        batches = sync_contacts(
            service,
            ME,
            self.cursor,
            report=report,
            known_contacts=lambda: list(self.contacts),
            **kwargs,
        )
        n = 0
        try:
            for batch in batches:
                self.apply(batch)
                n += 1
                if limit is not None and n >= limit:
                    break
        finally:
            batches.close()
        return report


def service_for(emulator: PeopleEmulator, token: str = "t") -> Any:
    return build_people_service(Credentials(token=token), emulator.endpoint)


@pytest.fixture
def emulator(people_emulator_factory) -> PeopleEmulator:
    em = people_emulator_factory()
    em.add_book(alex_book(), token="t")
    return em


def test_full_sync_reads_every_contact_and_only_the_fields_keepwarm_stores(emulator):
    store = Store()
    report = store.run(service_for(emulator), page_size=2)
    assert store.contacts == EXPECTED
    assert sorted((g.group_key, g.name, g.group_type) for g in store.groups) == [
        (CLIENTS, "Clients", "USER_CONTACT_GROUP"),
        (FAMILY, "Family", "USER_CONTACT_GROUP"),
        ("contactGroups/myContacts", "myContacts", "SYSTEM_CONTACT_GROUP"),
    ]
    # 5 contacts in pages of 2: 3 pages, then one incremental page; groups read twice.
    assert (report.mode, report.pages, report.contacts, report.groups) == ("full", 4, 5, 3)
    assert report.stats.calls == {"connections.list": 4, "contactGroups.list": 2}
    assert set(emulator.person_fields_seen) == {PERSON_FIELDS}
    assert PERSON_FIELDS.split(",") == [
        "names", "emailAddresses", "organizations", "birthdays", "events", "memberships",
        "metadata",
    ]  # fmt: skip
    assert store.cursor is not None and store.cursor["phase"] == "incremental"


def test_incremental_sync_brings_changes_and_deletions_in_two_requests(emulator):
    store = Store()
    store.run(service_for(emulator))
    book = emulator.books[ME]
    moved = copy.deepcopy(PEOPLE["people/c2"])
    moved["organizations"] = [{"name": "Fabrikam", "title": "VP Engineering"}]
    book.put("people/c2", moved)  # serial 6
    book.delete("people/c3")  # serial 7
    book.put("people/c9", {"names": [{"displayName": "New Friend"}]})  # serial 8
    before = emulator.stats.requests
    report = store.run(service_for(emulator))
    assert emulator.stats.requests - before == 2
    assert (report.mode, report.contacts, report.deletions) == ("incremental", 2, 1)
    expected = dict(EXPECTED)
    expected["people/c2"] = ContactRecord(
        ME, "gcontacts", "people/c2", "%E6", "Jo Chen", ("jo@client.example",),
        "Fabrikam", "VP Engineering", "1984-11-30", (("anniversary", "2015-06-20"),),
        (CLIENTS,),
    )  # fmt: skip
    del expected["people/c3"]
    expected["people/c9"] = ContactRecord(ME, "gcontacts", "people/c9", "%E8", "New Friend")
    assert store.contacts == expected
    # Both versions of Jo Chen were seen: the job change is visible.
    jo = [(r.organization, r.title) for r in store.versions if r.contact_key == "people/c2"]
    assert jo == [("Client Ltd", "CTO"), ("Fabrikam", "VP Engineering")]
    # Nothing changed: two requests again, nothing applied.
    before = emulator.stats.requests
    report = store.run(service_for(emulator))
    assert emulator.stats.requests - before == 2
    assert (report.contacts, report.deletions) == (0, 0)


def test_expired_sync_token_resyncs_in_full_and_prunes_what_is_gone(emulator):
    store = Store()
    store.run(service_for(emulator))
    book = emulator.books[ME]
    book.delete("people/c4")
    book.expire_sync_tokens()
    report = store.run(service_for(emulator), page_size=2)
    assert report.mode == "full_after_expiry"
    assert report.as_metadata()["mode"] == "full_after_expiry"
    assert report.pruned == 1
    expected = {k: v for k, v in EXPECTED.items() if k != "people/c4"}
    assert store.contacts == expected
    assert store.cursor is not None and store.cursor["phase"] == "incremental"


def test_killed_after_every_page_resumes_to_the_same_result(emulator):
    store = Store()
    runs = 0
    while True:
        runs += 1
        phase_before = (store.cursor or {}).get("phase")
        applied_before = len(store.versions)
        report = store.run(service_for(emulator), limit=1, page_size=2)
        if phase_before == "incremental" and report.batches <= 1:
            break
        assert runs < 20, (applied_before, store.cursor)
    assert store.contacts == EXPECTED
    # 3 full pages, each its own run, then incremental runs.
    assert runs >= 4


def test_faults_and_cut_connections_change_nothing(people_emulator_factory):
    emulator = people_emulator_factory(
        faults=FaultPlan(rate=0.3, seed=7, kinds=("500", "503", "429", "reset", "truncate"))
    )
    emulator.add_book(alex_book(), token="t")
    store = Store()
    report = store.run(service_for(emulator), page_size=1)
    assert store.contacts == EXPECTED
    assert sum(emulator.stats.faults.values()) + emulator.stats.statuses_cut_off.total() > 0
    assert report.stats.retries > 0


def test_first_page_quota_answers_429_and_the_retry_waits_it_out(people_emulator_factory):
    clock = ScaledClock(600)  # a minute lasts a tenth of a second
    emulator = people_emulator_factory(clock=clock.now, full_sync_first_pages_per_minute=1)
    emulator.add_book(alex_book(), token="t")
    first, second = Store(), Store()
    first.run(service_for(emulator), clock=clock)
    report = second.run(
        service_for(emulator), clock=clock, retry=RetryPolicy(base_delay=5.0, max_delay=60.0)
    )
    assert emulator.first_page_rejections >= 1
    assert report.stats.retries >= 1
    assert first.contacts == second.contacts == EXPECTED


def test_a_token_without_the_contacts_scope_gets_one_clear_message(people_emulator_factory):
    emulator = people_emulator_factory()
    emulator.add_book(alex_book())
    emulator.grant("gmail-only", ME, ["https://www.googleapis.com/auth/gmail.metadata"])
    with pytest.raises(AuthError, match=r"contacts\.readonly"):
        Store().run(service_for(emulator, "gmail-only"))


OTHER = {
    "otherContacts/o1": {
        "names": [{"displayName": "Ravi Saved"}],
        "emailAddresses": [_email("Ravi@Elsewhere.example", True)],
        "phoneNumbers": [{"value": "+1 555 0199"}],
    },
    "otherContacts/o2": {"emailAddresses": [_email("nobody@list.example", True)]},
}


def test_other_contacts_are_their_own_stream_with_their_scope_and_names_only(
        people_emulator_factory):
    emulator = people_emulator_factory()
    book = emulator.add_book(alex_book())
    for key, fields in OTHER.items():
        book.put_other(key, fields)
    emulator.grant("both", ME, [CONTACTS_SCOPE, OTHER_CONTACTS_SCOPE])
    store = Store()
    report = store.run(service_for(emulator, "both"), page_size=1, stream=OTHER_STREAM)
    assert store.contacts == {
        "otherContacts/o1": ContactRecord(ME, "gcontacts", "otherContacts/o1", "%E" + str(
            book.other["otherContacts/o1"].changed), "Ravi Saved", ("ravi@elsewhere.example",)),
        "otherContacts/o2": ContactRecord(ME, "gcontacts", "otherContacts/o2", "%E" + str(
            book.other["otherContacts/o2"].changed), None, ("nobody@list.example",)),
    }
    # Only names and addresses asked for; no labels read; the cursor names its stream.
    assert emulator.person_fields_seen[-1] == "emailAddresses,metadata,names"
    assert dict(report.stats.calls) == {"otherContacts.list": 3}  # two pages, one increment
    assert store.groups == [] and store.cursor["phase"] == "incremental"

    # A deletion arrives through the sync token; the address book's stream is untouched.
    book.delete("otherContacts/o2")
    again = store.run(service_for(emulator, "both"), stream=OTHER_STREAM)
    assert (again.mode, again.deletions) == ("incremental", 1)
    assert list(store.contacts) == ["otherContacts/o1"]


def test_other_contacts_without_their_scope_name_the_scope(people_emulator_factory):
    emulator = people_emulator_factory()
    emulator.add_book(alex_book(), token="t")  # contacts.readonly only
    with pytest.raises(AuthError, match=r"contacts\.other\.readonly"):
        Store().run(service_for(emulator), stream=OTHER_STREAM)
