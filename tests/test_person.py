"""`keepwarm person` and the digest on a crafted mailbox whose every figure is worked out by
hand: Bo Berg, a tie with mail both ways, a meeting in person, an introduction, a reply
owed, a birthday and a meeting ahead; Eve Stone, whose first contact turns one year old."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest

from connectors.records import Address, Attendee
from engine.config import KeepwarmConfig
from engine.digest import (
    build_digest,
    person_profiles,
    render_person_text,
    render_text,
)
from engine.people import find_people
from pipelines.digest_cli import print_person
from tests.conftest import utc
from tests.crafted import ME, mail, meeting

BO, CY, DEE, EVE, ZED = ("bo@firm.example", "cy@firm.example", "dee@new.example",
                         "eve@stone.example", "zed@old.example")
NAMES = {BO: "Bo Berg", CY: "Cy Lund", DEE: "Dee Novak", EVE: "Eve Stone", ZED: "Zed Marsh"}


def named(message):
    """The crafted message with its people's names on their addresses."""
    def name(addresses):
        return [Address(a.address, NAMES.get(a.address)) for a in addresses]
    return replace(message, from_addrs=name(message.from_addrs), to_addrs=name(message.to_addrs),
                   cc_addrs=name(message.cc_addrs))


def half_up(days: float) -> int:
    """Whole days as a person rounds them: 54.5 is 55."""
    return int(Decimal(str(days)).quantize(Decimal(1), ROUND_HALF_UP))


def birthday(day: date, who: str):
    event = meeting(utc(day.year, day.month, day.day), 24 * 60, [(who, "needsAction")],
                    event_type="birthday")
    return replace(event, all_day=True, organizer=None, has_conference=False,
                   attendees=[Attendee(who, NAMES[who], "needsAction")])


def crafted():
    opened = mail(ME, [BO], utc(2026, 1, 10, 9), rfc_id="open@t", thread="t1")
    intro = mail(BO, [ME, DEE], utc(2026, 5, 15, 9), rfc_id="intro@t", thread="t2")
    messages = [
        # The history begins with Zed; Eve's first contact comes five months later.
        mail(ME, [ZED], utc(2025, 1, 1, 9)),
        mail(ZED, [ME], utc(2025, 1, 2, 9)),
        opened,
        mail(BO, [ME], utc(2026, 1, 11, 10), in_reply_to="open@t", thread="t1"),
        intro,
        mail(ME, [BO, DEE], utc(2026, 5, 16, 9), in_reply_to="intro@t", thread="t2"),
        mail(BO, [ME], utc(2026, 5, 20, 8), thread="t3"),
        mail(ME, [BO, CY], utc(2026, 5, 28, 12), thread="t4"),
    ]
    eve = utc(2025, 6, 5, 9)
    while eve < utc(2026, 5, 25):
        asked = f"eve-{eve:%Y%m%d}@t"
        messages += [mail(ME, [EVE], eve, rfc_id=asked, thread=asked),
                     mail(EVE, [ME], eve + timedelta(hours=3), in_reply_to=asked, thread=asked)]
        eve += timedelta(days=30)
    events = [
        meeting(utc(2026, 3, 2, 14), 60, [(ME, "accepted"), (BO, "accepted")], in_person=True),
        meeting(utc(2026, 6, 3, 10), 30, [(ME, "accepted"), (BO, "accepted")]),
        birthday(date(2026, 6, 5), BO),
    ]
    return [named(m) for m in messages], events


@pytest.fixture
def warehouse(model):
    messages, events = crafted()
    return model(messages, events)


def test_bo_by_hand(warehouse):
    (match,) = find_people(warehouse, "bo")
    assert (match.person_id, match.name) == (BO, "Bo Berg")
    (bo,) = person_profiles(warehouse, [BO])
    blocks = {b.title: dict(b.lines) for b in bo.blocks}
    assert blocks["Who"]["addresses"] == BO
    assert blocks["Give and take"]["messages"].startswith("3 sent, 3 received (balance 0.00)")
    assert blocks["Give and take"]["meetings"] == (
        "1 (1 one-to-one, 1 in person, 0 on video, 1.0 h)")
    assert blocks["Open loops"] == {"2026-05-20": "reply to their message of 2026-05-20"}
    # The note of 2026-05-28 To Bo and Cy, never together before, introduced them.
    (introductions,) = [b.lines for b in bo.blocks if b.title == "Introductions"]
    assert introductions == (
        ("2026-05-28", "you introduced them to Cy Lund (not in touch since)"),
        ("2026-05-15", "introduced you to Dee Novak (not a tie yet)"))
    dates = blocks["Key dates"]
    assert dates["first contact"] == "2026-01-10"
    assert dates["last contact"] == "2026-05-28, mail to them (group mail)"
    assert dates["last met in person"] == "2026-03-02"
    assert dates["next birthday"] == "2026-06-05"
    # Every interaction, oldest first, the meeting ahead and the birthday marked.
    assert [(r.day, r.channel, r.direction, r.shape, r.mode) for r in bo.timeline] == [
        ("2026-01-10", "email", "to them", "one-to-one", ""),
        ("2026-01-11", "email", "from them, a reply", "one-to-one", ""),
        ("2026-03-02", "meeting", "60 min", "one-to-one", "in person"),
        ("2026-05-15", "email", "from them", "group", ""),
        ("2026-05-16", "email", "to them, a reply", "group", ""),
        ("2026-05-20", "email", "from them", "one-to-one", ""),
        ("2026-05-28", "email", "to them", "group", ""),
        ("2026-06-03", "meeting", "30 min", "one-to-one", "video"),
        ("2026-06-05", "meeting", "", "", ""),
    ]
    assert bo.timeline[7].note == "upcoming"
    assert bo.timeline[8].note == "upcoming; not counted: not a meeting: birthday"
    # The tie's figures are the marts' own.
    status, reason, strength = warehouse.execute(
        "select status, reason, tie_strength from marts.relationship_status "
        "where person_id = ?", [BO]).fetchone()
    assert blocks["Where you stand"]["status"] == status
    assert blocks["Where you stand"]["why"] == reason
    assert blocks["Tie strength"]["strength"] == f"{strength:.1f} of 100"
    # The rhythm in the whole days the reason uses (half away from zero, not Python's
    # half to even), with the model's own cooling and cold lines beside the usual gap.
    gap, cooling, cold, silent = warehouse.execute(
        "select usual_gap_days, cooling_after_days, cold_after_days, days_silent "
        "from marts.relationship_status where person_id = ?", [BO]).fetchone()
    assert blocks["Rhythm"] == {
        "usual gap": f"{half_up(gap)} days",
        "cooling after": f"{half_up(cooling)} days of silence",
        "cold after": f"{half_up(cold)} days of silence",
        # One-to-one contact only, within 2 days one touchpoint: Jan 10-11, the meeting of
        # Mar 2, his note of May 20 (the group mail of May 15, 16 and 28 does not count).
        "touchpoints": "3",
        "silent for": f"{half_up(silent)} days",
    }
    assert half_up(gap) < half_up(cooling) < half_up(cold)
    assert f"usually every {half_up(gap)} days; silent {half_up(silent)} days" in reason


def test_a_card_says_why_someone_is_no_tie(warehouse):
    # Cy was only ever on the note of May 28 you sent to Bo and Cy; Zed wrote back.
    cy, zed = person_profiles(warehouse, [CY, ZED])
    assert dict(dict((b.title, b.lines) for b in cy.blocks)["Where you stand"])["why"] == (
        "only you have written: a tie needs a message each way, or a meeting")
    # A tie's why is its status reason, as before.
    (reason,) = warehouse.execute("select reason from marts.relationship_status "
                                  "where person_id = ?", [ZED]).fetchone()
    assert dict(dict((b.title, b.lines) for b in zed.blocks)["Where you stand"])["why"] == (
        reason)


def test_the_digest_of_the_crafted_mailbox(warehouse):
    digest = build_digest(warehouse)
    sections = {s.key: s for s in digest.sections}
    (owed,) = sections["replies"].items
    assert [p.name for p in owed.people] == ["Bo Berg"]
    assert owed.next_step == "reply to their message of 2026-05-20"
    coming = sections["coming_up"].items
    # Within a day by kind: birthday, then first_contact.
    assert [(i.label, [p.name for p in i.people], i.facts) for i in coming] == [
        ("Fri 2026-06-05", ["Bo Berg"], "birthday"),
        ("Fri 2026-06-05", ["Eve Stone"], "1 year since your first contact"),
    ]
    (ahead,) = sections["meetings"].items
    assert ahead.label == "Wed 2026-06-03 10:00 UTC · 30 min · video"
    (attendee,) = ahead.children
    assert attendee.people[0].name == "Bo Berg"
    assert attendee.next_step == "reply to their message of 2026-05-20"
    assert "last met in person 2026-03-02" in attendee.details
    made, intro = sections["introductions"].items
    assert [p.name for p in made.people] == ["Bo Berg", "Cy Lund"]
    assert (made.facts, made.reason) == ("you introduced them on 2026-05-28",
                                         "no message or meeting between them since")
    assert [p.name for p in intro.people] == ["Dee Novak"]
    assert intro.facts == "introduced to you by Bo Berg on 2026-05-15"
    assert intro.reason == "1 message or meeting since, not yet a two-way tie"
    assert all(len(line) <= 80 for line in render_text(digest, 80).splitlines())


def test_person_names_the_ambiguous_and_the_unknown(warehouse, capsys):
    config = KeepwarmConfig()
    assert print_person(warehouse, config, "firm", width=80) == 2
    err = capsys.readouterr().err
    assert "'firm' matches 2 people" in err
    assert "Bo Berg <bo@firm.example>" in err and "Cy Lund <cy@firm.example>" in err
    assert print_person(warehouse, config, "xylophone", width=80) == 2
    assert capsys.readouterr().err == (
        "keepwarm: nobody matches 'xylophone'; try part of a name or an address\n")
    # A misspelt name is close enough; the view fits 80 columns.
    assert print_person(warehouse, config, "Bo Berq", width=80) == 0
    out = capsys.readouterr().out
    assert out.startswith("Bo Berg: ")
    assert "Timeline (9 interactions)" in out
    assert all(len(line) <= 80 for line in out.splitlines())


def test_a_card_lists_the_latest_interactions_and_says_how_many_in_all(warehouse):
    (bo,) = person_profiles(warehouse, [BO], timeline_limit=3)
    assert [r.day for r in bo.timeline] == ["2026-05-28", "2026-06-03", "2026-06-05"]
    assert bo.timeline_total == 9
    assert "Timeline (the latest 3 of 9 interactions; all: keepwarm person bo@firm.example)" \
        in render_person_text(bo, 100)
