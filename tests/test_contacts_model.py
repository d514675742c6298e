"""The address book in the model: core.contacts and core.contact_people, identities,
marts.key_dates, marts.job_changes, labels. Every expected value is worked out by hand
from the records below (as of 2026-06-01), or taken from the demo simulator's truth."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import duckdb
from dagster import DagsterInstance

from connectors.contacts import ContactGroupRecord, ContactRecord
from engine.contacts import apply_contacts
from engine.digest import build_digest, person_profiles
from pipelines.definitions import materialize_everything
from tests.conftest import make_config, utc
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

    # The person view's next birthday is the address book's (no calendar event for Sam).
    (sam,) = person_profiles(con, [SAM_HOME])
    assert dict(next(b for b in sam.blocks if b.title == "Key dates").lines)[
        "next birthday"] == "2026-06-10"

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


def _labelled(key, name, emails, groups, org=None, title=None):
    return ContactRecord(ME, "vcard", key, None, name, tuple(emails), org, title, None, (),
                         tuple(groups))  # fmt: skip


def test_label_cadences_with_explicit_cadences_winning_and_job_news_as_next_step(con, model):
    apply_contacts(con, ME, "vcard", [
        _labelled("sam", "Sam Rivera", [SAM_HOME, SAM_WORK], ["Family", "myContacts"]),
        _labelled("jo", "Jo Chen", [JO], ["Family", "Clients"], "Client Ltd", "CTO"),
        _labelled("lee", "Lee Park", [LEE], ["Clients", "starred"]),
    ], now=utc(2026, 1, 1))  # fmt: skip
    apply_contacts(con, ME, "vcard", [
        _labelled("jo", "Jo Chen", [JO], ["Family", "Clients"], "Fabrikam", "VP Engineering"),
    ], now=utc(2026, 3, 1))  # fmt: skip
    model(_mails(), status={
        "as_of": "2026-06-01T00:00:00+00:00",
        "cadence": {JO: 45},
        "cadence_by_label": {"family": 14, "Clients": 30},
        "job_change_days": 100,
    })

    labels = dict(con.execute("select person_id, labels from marts.contact_metrics").fetchall())
    # Google's system groups (myContacts, starred) are not labels; Kim has none.
    assert (labels[SAM_HOME], labels[JO], labels[LEE], labels[KIM_OLD]) == (
        ["Family"], ["Clients", "Family"], ["Clients"], [])

    status = {row[0]: row[1:] for row in con.execute(
        "select person_id, cadence_days, cadence_label, status, reason, next_step "
        "from marts.relationship_status").fetchall()}
    # Sam: Family's 14 days (the label matched in any case); last contact 2026-05-04 09:00,
    # 27.6 days before as-of: past 1.5 x 14 = 21, cold.
    assert status[SAM_HOME][:4] == (
        14, "Family", "cold", "you want contact every 14 days (label Family); silent 28 days")
    # Jo: the per-address 45 days wins over Family's 14; silent 26.6 days, active. The
    # move to Fabrikam (seen 2026-03-01, 92 days back, within 100) with no mail from me
    # since is the next step even for an active tie.
    assert status[JO] == (
        45, None, "active", "you want contact every 45 days; silent 27 days",
        "congratulate them on the new job: now VP Engineering at Fabrikam")
    # Lee: one mail in, no tie, but Clients gives a cadence: 30 days, silent 11.6, active.
    assert status[LEE] == (
        30, "Clients", "active", "you want contact every 30 days (label Clients); silent 12 days",
        "nothing needed")
    # Kim (one-way mail, no label, no cadence) is not a tie.
    assert KIM_OLD not in status

    # The person view shows the labels.
    (jo,) = person_profiles(con, [JO])
    assert dict(jo.blocks[0].lines)["labels"] == "Clients, Family"


def test_job_news_older_than_job_change_days_or_answered_is_not_the_next_step(con, model):
    apply_contacts(con, ME, "vcard", [
        _labelled("jo", "Jo Chen", [JO], [], "Client Ltd", "CTO")], now=utc(2026, 1, 1))
    apply_contacts(con, ME, "vcard", [
        _labelled("jo", "Jo Chen", [JO], [], "Fabrikam", "CEO")], now=utc(2026, 5, 1))
    # I wrote to Jo on 2026-05-06, after the change was seen: no longer news to act on.
    answered = [*_mails(), mail(ME, [JO], utc(2026, 5, 6, 9))]
    model(answered, status={"as_of": "2026-06-01T00:00:00+00:00", "cadence": {JO: 10}})
    next_step = con.execute("select next_step from marts.relationship_status "
                            "where person_id = $p", {"p": JO}).fetchone()[0]
    assert not next_step.startswith("congratulate")


def test_a_birthday_event_is_whose_contact_google_made_it_from(con, model):
    apply_contacts(con, ME, "gcontacts", [
        ContactRecord(ME, "gcontacts", "people/c9", None, "Lee Park", (LEE,)),
        ContactRecord(ME, "gcontacts", "people/c10", None, "Noa Nomail"),
    ], now=utc(2026, 1, 1))  # fmt: skip
    # Google's birthday events: no invitees, no title kept, only the contact's name.
    lee = meeting(utc(2026, 6, 12), 24 * 60, [], event_type="birthday")
    noa = meeting(utc(2026, 6, 10), 24 * 60, [], event_type="birthday")
    model(_mails(), [replace(lee, birthday_contact="people/c9"),
                     replace(noa, birthday_contact="people/c10")])
    assert con.execute(
        "select person_id, kind, date, next_occurrence, source from marts.key_dates "
        "where kind = 'birthday'").fetchall() == [
        (LEE, "birthday", "--06-12", date(2026, 6, 12), "gcal")]
    # The digest: Lee by person; Noa (a contact with no address, so no person) by the
    # contact's name.
    coming = {s.key: s for s in build_digest(con).sections}["coming_up"].items
    assert [(i.label, [p.name for p in i.people], i.facts) for i in coming] == [
        ("Wed 2026-06-10: Noa Nomail", [], "birthday"),
        ("Fri 2026-06-12", ["Lee Park"], "birthday"),
    ]



def test_a_birthday_event_with_no_contact_or_invitee_is_whose_name_begins_its_title(con, model):
    apply_contacts(con, ME, "vcard", [
        _contact("c1", "Lee Park", [LEE]),
        _contact("c2", "Jo Chen", [JO]),
    ], now=utc(2026, 1, 1))  # fmt: skip
    # Titles kept (the user opted in): the name in any case, then anything; a title that
    # begins with no one's name, and one that names Lee only later, are no one's.
    titled = [
        (utc(2026, 6, 12), "LEE PARK: birthday"),
        (utc(2026, 6, 20), "jo chen turns 40"),
        (utc(2026, 6, 25), "Birthday of someone else"),
        (utc(2026, 6, 27), "Cake for Lee Park"),
    ]
    events = [
        replace(meeting(at, 24 * 60, [], event_type="birthday"), summary=title)
        for at, title in titled
    ]
    model(_mails(), events)
    assert con.execute(
        "select person_id, date, next_occurrence, source from marts.key_dates "
        "where kind = 'birthday' order by person_id").fetchall() == [
        (JO, "--06-20", date(2026, 6, 20), "gcal"),
        (LEE, "--06-12", date(2026, 6, 12), "gcal"),
    ]


PERSONAL = "me.personal@gmail.com"


def _book(account, name, emails, org, title, birthday=None, events=()):
    # Both books give their contact the same People resource name and label key.
    return ContactRecord(account, "gcontacts", "people/c1", None, name, tuple(emails), org, title,
                         birthday, tuple(events), ("contactGroups/g1",))  # fmt: skip


def test_two_address_books_that_share_a_contact_key_keep_their_people_apart(con, model):
    # The work book's people/c1 is Sam, the personal book's people/c1 is Jo; each book's
    # contactGroups/g1 is a label of its own name.
    for account, label in ((ME, "Family"), (PERSONAL, "Clients")):
        apply_contacts(con, account, "gcontacts", [], groups=[
            ContactGroupRecord(account, "gcontacts", "contactGroups/g1", label,
                               "USER_CONTACT_GROUP")])  # fmt: skip
    apply_contacts(con, ME, "gcontacts", [
        _book(ME, "Sam Rivera", [SAM_HOME, SAM_WORK], "Northwind", "Engineer", "--06-10")],
        now=utc(2026, 1, 1))  # fmt: skip
    apply_contacts(con, PERSONAL, "gcontacts", [
        _book(PERSONAL, "Jo Chen", [JO], "Client Ltd", "CTO", "1984-02-29",
              [("anniversary", "2015-05-20")])], now=utc(2026, 1, 1))  # fmt: skip
    apply_contacts(con, ME, "gcontacts", [
        _book(ME, "Sam Rivera", [SAM_HOME, SAM_WORK], "Contoso", "Staff Engineer", "--06-10")],
        now=utc(2026, 3, 1))  # fmt: skip
    apply_contacts(con, PERSONAL, "gcontacts", [
        _book(PERSONAL, "Jo Chen", [JO], "Fabrikam", "VP Engineering", "1984-02-29",
              [("anniversary", "2015-05-20")])], now=utc(2026, 4, 1))  # fmt: skip
    # Each account's birthday calendar names its own book's people/c1.
    sam_birthday = replace(meeting(utc(2026, 6, 10), 24 * 60, [], event_type="birthday"),
                           birthday_contact="people/c1")
    jo_birthday = replace(meeting(utc(2026, 2, 28), 24 * 60, [], event_type="birthday"),
                          account=PERSONAL, birthday_contact="people/c1")
    model(_mails(), [sam_birthday, jo_birthday], me={"addresses": [ME, PERSONAL]})

    assert con.execute(
        "select account, contact_key, version, person_id, display_name, organization "
        "from core.contact_people order by account").fetchall() == [
        (PERSONAL, "people/c1", 2, JO, "Jo Chen", "Fabrikam"),
        (ME, "people/c1", 2, SAM_HOME, "Sam Rivera", "Contoso"),
    ]  # fmt: skip
    # Sam's two addresses are one person; Jo, in the other book under the same key, is not
    # merged into Sam.
    identities = dict(con.execute(
        "select address, person_id from core.identities where not is_self").fetchall())
    assert (identities[SAM_HOME], identities[SAM_WORK], identities[JO]) == (
        SAM_HOME, SAM_HOME, JO)
    names = dict(con.execute("select person_id, display_name from core.people").fetchall())
    assert (names[SAM_HOME], names[JO]) == ("Sam Rivera", "Jo Chen")

    assert con.execute(
        "select person_id, kind, date, next_occurrence, source from marts.key_dates "
        "where kind <> 'first_contact' order by person_id, kind, source").fetchall() == [
        # Jo's calendar event fell on 28 February 2026 (a common year), so the calendar
        # says --02-28; the book's 29 February also comes on 28 February 2027.
        (JO, "anniversary", "2015-05-20", date(2027, 5, 20), "gcontacts"),
        (JO, "birthday", "--02-28", date(2027, 2, 28), "gcal"),
        (JO, "birthday", "1984-02-29", date(2027, 2, 28), "gcontacts"),
        (SAM_HOME, "birthday", "--06-10", date(2026, 6, 10), "gcal"),
        (SAM_HOME, "birthday", "--06-10", date(2026, 6, 10), "gcontacts"),
    ]  # fmt: skip

    assert con.execute(
        "select person_id, from_organization, from_title, to_organization, to_title, "
        "first_seen_at, source from marts.job_changes order by person_id").fetchall() == [
        (JO, "Client Ltd", "CTO", "Fabrikam", "VP Engineering", utc(2026, 4, 1), "gcontacts"),
        (SAM_HOME, "Northwind", "Engineer", "Contoso", "Staff Engineer", utc(2026, 3, 1),
         "gcontacts"),
    ]  # fmt: skip

    labels = dict(con.execute("select person_id, labels from marts.contact_metrics").fetchall())
    assert (labels[SAM_HOME], labels[JO]) == (["Family"], ["Clients"])


def test_the_demo_teams_books_share_contact_keys_but_not_people(tmp_path):
    # Each demo member's address book numbers its contacts demo/0, demo/1, ...: two books,
    # the same keys, different people. Through Dagster, as a run builds it.
    path, config = make_config(
        tmp_path, me={"addresses": ["alex@northwind.example"]},
        sources={"demo": {"mailboxes": 2, "months": 2, "scale": 0.2, "end": "2026-06-01"}},
        status={"as_of": "2026-06-01T00:00:00Z"})  # fmt: skip
    result = materialize_everything(path, instance=DagsterInstance.ephemeral(), parallel=False)
    assert result.success
    with duckdb.connect(config.warehouse.path, read_only=True) as con:
        (shared,) = con.execute(
            "select count(*) from (select contact_key from core.contact_people "
            "group by 1 having count(distinct account) = 2)").fetchone()
        assert shared > 0
        # Each contact is the person its own book names: the simulator's truth for that
        # account and the contact's first address.
        assert con.execute("""
            select cp.account, cp.contact_key
            from core.contact_people cp
            join core.contacts c using (account, source, contact_key)
            left join raw.demo_truth t on t.account = cp.account and t.address = c.addresses[1]
            join core.people p on p.person_id = cp.person_id
            where p.display_name is distinct from t.name or cp.display_name <> t.name
        """).fetchall() == []
        # Every birthday in a book is its own contact's person's, and no one else's.
        book = con.execute(
            "select distinct person_id, birthday from core.contact_people "
            "where birthday is not null order by all").fetchall()
        dates = con.execute(
            "select person_id, date from marts.key_dates where source = 'demo' "
            "order by all").fetchall()
        assert book and dates == book
