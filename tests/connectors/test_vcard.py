"""The vCard reader on hand-written 3.0 and 4.0 files (tests/fixtures/contacts/README.md
lists what each card holds and why)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from connectors.contacts import ContactRecord
from connectors.takeout.vcard import VcardStats, read_vcard, read_vcard_paths, vcard_date

FIXTURES = Path(__file__).parent.parent / "fixtures" / "contacts"
ME = "alex@example.com"


def _no_uid(name: str, email: str) -> str:
    return "vcard:" + hashlib.sha256(f"{name}\n{email}".lower().encode()).hexdigest()[:20]


def _read(name: str) -> tuple[list[ContactRecord], list, VcardStats]:
    stats = VcardStats()
    contacts, quarantine = [], []
    for batch in read_vcard(FIXTURES / name, ME, batch_size=2, stats=stats):
        contacts += batch.contacts
        quarantine += batch.quarantine
    return contacts, quarantine, stats


def test_takeout_30_cards_become_contacts_without_phones_addresses_or_notes():
    contacts, quarantine, stats = _read("takeout30.vcf")
    by_key = {c.contact_key: c for c in contacts}
    sam = by_key["sam-1"]
    assert (sam.display_name, sam.emails) == (
        "Sam Rivera",
        ("sam.rivera@home.example", "sam@work.example"),
    )
    assert (sam.organization, sam.title, sam.birthday) == ("Northwind", "Lead Engineer", "--03-09")
    assert sam.groups == ("myContacts", "Family")
    assert "555" not in repr(sam) and "Main St" not in repr(sam) and "conference" not in repr(sam)
    jo = by_key["jo-2"]
    assert (jo.etag, jo.birthday, jo.events, jo.groups) == (
        "2026-01-05T10:00:00Z",
        "1984-11-30",
        (("anniversary", "2015-06-20"),),
        ("Clients",),
    )
    ngozi = by_key[_no_uid("Ngozi Okafor", "ngozi@example.org")]
    assert (ngozi.display_name, ngozi.birthday) == ("Ngozi Okafor", "--07-14")
    long_ago = by_key[_no_uid("Long ago", "long@example.org")]
    assert (long_ago.display_name, long_ago.birthday) == ("Long ago", "1970-01-02")
    assert len(contacts) == 4
    assert [(q.locator.rsplit(":", 1)[1], q.reason.split(":")[0]) for q in quarantine] == [
        ("34", "unreadable vCard"),
        ("38", "unreadable vCard"),
    ]
    assert "neither a name" in quarantine[0].reason
    assert quarantine[0].excerpt == "BEGIN,VERSION,TEL,END"  # property names, no values
    assert (stats.cards, stats.contacts, stats.quarantined) == (6, 4, 2)


def test_vcard_40_and_a_card_cut_off_at_the_end_of_the_file():
    contacts, quarantine, _ = _read("apple40.vcf")
    assert [(c.contact_key, c.emails, c.birthday, c.events) for c in contacts] == [
        (
            "urn:uuid:ana-4",
            ("ana@lima.example", "ana.lima@old.example"),
            "--12-05",
            (("anniversary", "2010-05-01"),),
        )
    ]
    assert [q.locator.rsplit(":", 1)[1] for q in quarantine] == ["12"]
    assert "cut off" in quarantine[0].reason


def test_globs_read_each_file_once():
    stats = VcardStats()
    pattern = str(FIXTURES / "*.vcf")
    list(read_vcard_paths([pattern, pattern, str(FIXTURES / "apple40.vcf")], ME, stats=stats))
    assert (stats.cards, stats.contacts, stats.quarantined) == (8, 5, 3)


def test_vcard_dates():
    assert vcard_date("1984-03-09") == "1984-03-09"
    assert vcard_date("19840309") == "1984-03-09"
    assert vcard_date("--0309") == "--03-09"
    assert vcard_date("--03-09") == "--03-09"
    assert vcard_date("1984-03-09T00:00:00Z") == "1984-03-09"
    assert vcard_date("1604-03-09", {"X-APPLE-OMIT-YEAR": ["1604"]}) == "--03-09"
    assert vcard_date("1984-13-09") is None
    assert vcard_date("next spring") is None
