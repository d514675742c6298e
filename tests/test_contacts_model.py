"""The address book in the model: identities, marts.key_dates, marts.job_changes. Every
expected value is worked out by hand from the records below (as of 2026-06-01)."""

from __future__ import annotations

from datetime import date

from connectors.contacts import ContactRecord
from engine.contacts import apply_contacts
from tests.conftest import utc
from tests.crafted import ME, mail, meeting

SAM_HOME, SAM_WORK, JO, KIM_OLD, KIM_NEW, LEE = (
    "sam@home.example", "sam@work.example", "jo@client.example", "kim@oldco.example",
    "kim@newco.example", "lee@x.example",
)  # fmt: skip


def _contact(key, name, emails, org=None, title=None, birthday=None, events=()):
    return ContactRecord(ME, "vcard", key, None, name, tuple(emails), org, title, birthday,
                         tuple(events))  # fmt: skip


def _mails():
    out = []
    for month in (1, 2, 3, 4, 5):
        out.append(mail(SAM_HOME, [ME], utc(2026, month, 3, 9)))
        out.append(mail(ME, [SAM_WORK], utc(2026, month, 4, 9)))
        out.append(mail(JO, [ME], utc(2026, month, 5, 9)))
    # Kim writes from the old company until 2025-12, then from the new one from 2026-04.
    out += [mail(KIM_OLD, [ME], utc(2025, m, 10, 9)) for m in (9, 10, 11, 12)]
    out += [mail(KIM_NEW, [ME], utc(2026, m, 10, 9)) for m in (4, 5)]
    out.append(mail(LEE, [ME], utc(2026, 5, 20, 9)))
    return out


def test_contacts_merge_addresses_name_people_and_give_key_dates_and_job_changes(con, model):
    apply_contacts(con, ME, "vcard", [
        _contact("sam", "Sam Rivera", [SAM_HOME, SAM_WORK], "Northwind", "Engineer",
                 "--06-10"),
        _contact("jo", "Jo Chen", [JO], "Client Ltd", "CTO", "1984-02-29",
                 [("anniversary", "2015-05-20")]),
        _contact("kim", "Kim Park", [KIM_OLD, KIM_NEW]),
    ], now=utc(2026, 1, 1))  # fmt: skip
    apply_contacts(con, ME, "vcard", [
        _contact("jo", "Jo Chen", [JO], "Fabrikam", "VP Engineering", "1984-02-29",
                 [("anniversary", "2015-05-20")]),
    ], now=utc(2026, 3, 1))  # fmt: skip
    birthday = meeting(utc(2026, 7, 1), 24 * 60, [(LEE, "needsAction")], event_type="birthday")
    model(_mails(), [birthday])

    identities = dict(
        con.execute("select address, person_id from core.identities where not is_self").fetchall()
    )
    # Sam's two addresses are one person, named after the contact's first address.
    assert identities[SAM_HOME] == identities[SAM_WORK] == SAM_HOME
    assert identities[JO] == JO
    names = dict(con.execute("select person_id, display_name from core.people").fetchall())
    assert names[SAM_HOME] == "Sam Rivera" and names[JO] == "Jo Chen"

    dates = con.execute(
        "select person_id, kind, date, year, next_occurrence, source from marts.key_dates "
        "where kind <> 'first_contact' order by person_id, kind"
    ).fetchall()
    assert dates == [
        # 2026 is a common year: Jo's 29 February birthday comes on 28 February 2027.
        (JO, "anniversary", "2015-05-20", 2015, date(2027, 5, 20), "vcard"),
        (JO, "birthday", "1984-02-29", 1984, date(2027, 2, 28), "vcard"),
        (LEE, "birthday", "--07-01", None, date(2026, 7, 1), "gcal"),
        (SAM_HOME, "birthday", "--06-10", None, date(2026, 6, 10), "vcard"),
    ]

    changes = con.execute(
        "select person_id, from_organization, from_title, to_organization, to_title, "
        "first_seen_at, source from marts.job_changes order by person_id"
    ).fetchall()
    assert changes == [
        (JO, "Client Ltd", "CTO", "Fabrikam", "VP Engineering", utc(2026, 3, 1), "vcard"),
        # Kim (one person: one contact lists both addresses) last wrote from the old
        # domain on 2025-12-10 and first from the new one on 2026-04-10: 121 days later,
        # more than the 90 days of silence asked for.
        (KIM_OLD, "oldco.example", None, "newco.example", None, utc(2026, 4, 10, 9), "mail"),
    ]


def test_a_merge_in_config_wins_over_the_address_book(con, model):
    apply_contacts(con, ME, "vcard", [_contact("sam", "Sam Rivera", [SAM_HOME, SAM_WORK])])
    model(_mails(), identities={"merge": [[SAM_WORK, JO]]})
    identities = dict(
        con.execute("select address, person_id from core.identities where not is_self").fetchall()
    )
    assert identities[SAM_WORK] == SAM_WORK and identities[JO] == SAM_WORK
    assert identities[SAM_HOME] == SAM_HOME
