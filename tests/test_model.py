"""The core and marts SQL on tiny hand-built histories, every expected value worked by hand."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from types import SimpleNamespace

import duckdb
import pytest

from assets.tables import BOOKKEEPING_TABLES, build_table
from connectors.records import Batch, MessageRecord
from engine.warehouse import RAW_TABLES, Warehouse, apply_batch
from tests.conftest import MODEL_TABLES, make_config, utc
from tests.crafted import ALIAS, AS_OF, ME, mail, meeting, row


def test_addresses_fold_case_tags_dots_and_googlemail(model):
    con = model(
        [
            mail("Ana.Lima+news@GoogleMail.com", [ME], utc(2026, 5, 1)),
            mail(ME, ["analima@gmail.com"], utc(2026, 5, 2)),
            mail(ME, ["bo@work.example"], utc(2026, 5, 3)),
            mail("BO+x@Work.Example", [ME], utc(2026, 5, 4)),
        ]
    )
    people = con.execute("select person_id, n_addresses from core.people order by 1").fetchall()
    assert people == [("analima@gmail.com", 1), ("bo@work.example", 1)]
    spellings = row(
        con, "select spellings from core.identities where address = 'analima@gmail.com'"
    )
    assert spellings[0] == ["Ana.Lima+news@GoogleMail.com", "analima@gmail.com"]


def test_confirmed_merge_makes_one_person_and_sent_label_finds_an_alias(model):
    con = model(
        [
            mail("kim@a.example", [ME], utc(2026, 5, 1)),
            mail("kim.private@b.example", [ME], utc(2026, 5, 2)),
            # Sent from an alias the config does not list: the SENT label says it is me.
            mail(ALIAS, ["kim@a.example"], utc(2026, 5, 3), labels=["SENT"]),
        ],
        identities={"merge": [["kim@a.example", "kim.private@b.example"]]},
    )
    assert con.execute("select person_id, n_addresses from core.people").fetchall() == [
        ("kim@a.example", 2)
    ]
    assert row(con, "select is_self from core.identities where address = 'mepersonal@gmail.com'")[0]
    sent, received = row(con, "select messages_sent, messages_received from marts.contact_metrics")
    assert (sent, received) == (1, 2)


def test_counts_per_window_and_reciprocity_balance(model):
    # Received 1 (400 days ago, outside 365), 2 at 100 days, 1 at 20 days; sent 1 at 10 days
    # and 1 at 40 days. Windows count both directions.
    days = lambda n: AS_OF - timedelta(days=n)  # noqa: E731
    con = model(
        [
            mail("li@x.example", [ME], days(400)),
            mail("li@x.example", [ME], days(100)),
            mail("li@x.example", [ME], days(100) + timedelta(hours=1)),
            mail("li@x.example", [ME], days(20)),
            mail(ME, ["li@x.example"], days(40)),
            mail(ME, ["li@x.example"], days(10)),
        ]
    )
    got = row(
        con,
        """
        select interactions_30d, interactions_90d, interactions_365d, messages_sent,
               messages_received, reciprocity_balance, last_inbound_at, last_outbound_at,
               first_contact_at, is_tie
        from marts.contact_metrics""",
    )
    # balance = (2 - 4) / (2 + 4) = -1/3
    assert got == (2, 3, 5, 2, 4, pytest.approx(-0.3333), days(20), days(10), days(400), True)


def test_audience_weight_is_one_over_recipients(model):
    con = model(
        [
            mail(ME, ["a@x.example", "b@x.example"], utc(2026, 5, 1), cc=("c@x.example", ME)),
            mail("a@x.example", [ME], utc(2026, 5, 2)),
        ]
    )
    weights = con.execute(
        "select person_id, direction, weight from core.interactions order by 1, 2"
    ).fetchall()
    # Outbound to 3 others (the user's own copy does not count): 1/3 each. The reply
    # reaches only the user: weight 1.
    assert weights == [
        ("a@x.example", "inbound", 1.0),
        ("a@x.example", "outbound", pytest.approx(1 / 3)),
        ("b@x.example", "outbound", pytest.approx(1 / 3)),
        ("c@x.example", "outbound", pytest.approx(1 / 3)),
    ]
    # Only a wrote back: a is a tie, b and c received mail only.
    ties = con.execute("select person_id from marts.contact_metrics where is_tie").fetchall()
    assert ties == [("a@x.example",)]


def test_bulk_and_automated_mail_is_noise_unless_allow_listed(model):
    con = model(
        [
            mail("news@shop.example", [ME], utc(2026, 5, 1), list_id="<list.shop.example>"),
            mail("team@club.example", [ME], utc(2026, 5, 1), has_list_unsubscribe=True),
            mail("ops@host.example", [ME], utc(2026, 5, 1), precedence="bulk"),
            mail("bot@ci.example", [ME], utc(2026, 5, 1), auto_submitted="auto-generated"),
            mail("vacation@x.example", [ME], utc(2026, 5, 1), auto_submitted="no"),
            mail("no-reply@bank.example", [ME], utc(2026, 5, 1)),
            mail(
                "deals@store.example",
                [ME],
                utc(2026, 5, 1),
                labels=["INBOX", "CATEGORY_PROMOTIONS"],
            ),
            mail("friend@club.example", [ME], utc(2026, 5, 1), list_id="<friends>"),
        ],
        noise={"allow": ["@club.example"]},
    )
    reasons = dict(
        con.execute("select person_id, noise_reason from core.interactions order by 1").fetchall()
    )
    assert reasons == {
        "news@shop.example": "bulk: List-Id header",
        "team@club.example": None,  # allow-listed domain
        "ops@host.example": "bulk: Precedence bulk",
        "bot@ci.example": "automated: Auto-Submitted auto-generated",
        "vacation@x.example": None,  # Auto-Submitted: no means a person sent it
        "no-reply@bank.example": "automated: machine sender address",
        "deals@store.example": "bulk: Gmail category",
        "friend@club.example": None,
    }


def test_meetings_count_only_when_personal(model):
    at = utc(2026, 5, 10, 9)
    crowd = [(f"p{i}@big.example", "accepted") for i in range(21)]
    con = model(
        events=[
            meeting(at, 60, [(ME, "accepted"), ("ana@x.example", "accepted")], in_person=True),
            meeting(
                at,
                30,
                [(ME, "accepted"), ("ana@x.example", "accepted"), ("room-1@x.example", "accepted")],
            ),
            meeting(at, 30, [(ME, "declined"), ("bo@x.example", "accepted")]),
            meeting(at, 30, [(ME, "accepted"), ("cy@x.example", "accepted")], status="cancelled"),
            meeting(at, 30, [(ME, "accepted"), ("dee@x.example", "declined")]),
            meeting(at, 30, [(ME, "accepted"), *crowd]),
            meeting(at, 120, [(ME, "accepted")], event_type="focusTime"),
        ]
    )
    got = row(
        con,
        """
        select meetings, meetings_one_on_one, meetings_in_person, meeting_hours, is_tie
        from marts.contact_metrics where person_id = 'ana@x.example'""",
    )
    # The room is not a person, so both meetings are one-on-one: 60 + 30 minutes.
    assert got == (2, 2, 1, 1.5, True)
    reasons = dict(
        con.execute("""
        select person_id, any_value(noise_reason) from core.interactions
        where person_id in ('bo@x.example', 'cy@x.example', 'dee@x.example', 'p0@big.example')
        group by 1""").fetchall()
    )
    assert reasons == {
        "bo@x.example": "meeting: declined by you",
        "cy@x.example": "meeting: cancelled",
        "dee@x.example": "meeting: they declined",
        "p0@big.example": "meeting: more than 20 attendees",
    }
    assert row(con, "select count(*) from marts.contact_metrics")[0] == 1


def test_reply_latency_both_ways(model):
    t = utc(2026, 5, 1, 9)
    con = model(
        [
            mail("ana@x.example", [ME], t, rfc_id="q1@x"),
            mail(
                ME, ["ana@x.example"], t + timedelta(minutes=47), rfc_id="a1@x", in_reply_to="q1@x"
            ),
            mail("ana@x.example", [ME], t + timedelta(hours=5), rfc_id="a2@x", in_reply_to="a1@x"),
        ]
    )
    latencies = con.execute(
        "select direction, reply_latency_s from core.interactions where is_reply order by 1"
    ).fetchall()
    assert latencies == [("inbound", 5 * 3600 - 47 * 60), ("outbound", 47 * 60)]


def steady(person: str, first: datetime, every_days: int, times: int) -> list[MessageRecord]:
    """One message every `every_days`, alternating direction."""
    return [
        mail(person, [ME], first + timedelta(days=every_days * i))
        if i % 2
        else mail(ME, [person], first + timedelta(days=every_days * i))
        for i in range(times)
    ]


def posterior(gaps: list[float], prior: float, lead_in: float, history: float,
              k: float = 5, predates: float = 0.5) -> tuple[float, float]:
    """The Gamma posterior (a, b) of the rhythm model, worked out here independently of the
    SQL: a = k + n, b = k * prior + sum(gaps) from the gaps; then the lead-in L (history
    start to first contact) counts as one more gap with weight w, the chance the tie predates
    the H days of history: odds = predates / (1 - predates) * H * a / (b + L) * (b / (b + L))^a,
    w = odds / (1 + odds), a += w, b += w * L."""
    a, b = k + len(gaps), k * prior + sum(gaps)
    odds = predates / (1 - predates) * history * a / (b + lead_in) * (b / (b + lead_in)) ** a
    w = odds / (1 + odds)
    return a + w, b + w * lead_in


def silence_with_chance(chance: float, a: float, b: float) -> float:
    """The silence whose probability is `chance`: (b / (b + s))^a = chance
    =>  s = b * (chance^(-1/a) - 1)."""
    return b * (chance ** (-1 / a) - 1)


@pytest.mark.parametrize(
    ("silent_days", "status"),
    [(12, "active"), (28, "cooling"), (40, "cold"), (400, "dormant")],
)
def test_rhythm_rule_for_a_steady_ten_day_contact(model, silent_days, status):
    # Eleven messages ten days apart: ten gaps of 10 days. Being the only person with
    # history, the network prior is also 10. A one-way note from someone else 10 days
    # before the first opens the history, so Ana's lead-in is 10 days: one more gap of 10
    # with weight w, and the usual gap stays (5 x 10 + 100 + 10w) / (15 + w) = 10 whatever
    # w is. For a silence of 12 days the history is H = 10 + 100 + 12 = 122 days and
    # odds = 122 x 15 / 160 x (150 / 160)^15 = 11.4375 x 0.3798 = 4.344, w = 0.813:
    # a = 15.813, b = 158.13; cooling after 158.13 x (0.1^(-1/15.813) - 1) = 24.8 days,
    # cold after 158.13 x (0.04^(-1/15.813) - 1) = 35.7 (24.9 and 35.9 without the lead-in:
    # the extra gap thins the tail).
    last = AS_OF - timedelta(days=silent_days)
    first = last - timedelta(days=100)
    con = model([mail("pitch@x.example", [ME], first - timedelta(days=10)),
                 *steady("ana@x.example", first, 10, 11)])
    got = row(
        con,
        """
        select status, usual_gap_days, mean_gap_days, p90_gap_days, touchpoints,
               cooling_after_days, cold_after_days, round(days_silent), silence_probability
        from marts.relationship_status""",
    )
    a, b = posterior([10.0] * 10, 10, lead_in=10, history=110 + silent_days)
    assert got == (
        status, 10.0, 10.0, 10.0, 11,
        round(silence_with_chance(0.1, a, b), 1),
        round(silence_with_chance(0.04, a, b), 1),
        silent_days,
        pytest.approx((b / (b + silent_days)) ** a, abs=1e-4),
    )
    if silent_days == 12:
        assert (round(a, 3), round(b, 2)) == (15.813, 158.13)
        assert (round(got[5], 1), round(got[6], 1)) == (24.8, 35.7)


def test_rhythm_is_per_person_not_one_fixed_interval(model):
    # Both silent 90 days: cold for a weekly contact, active for a quarterly one.
    weekly = steady("wk@x.example", AS_OF - timedelta(days=90 + 7 * 10), 7, 11)
    quarterly = steady("qt@x.example", AS_OF - timedelta(days=90 + 90 * 4), 90, 5)
    # A one-way note 90 days before the quarterly contact's first opens the history
    # (H = 540 days): the quarterly lead-in is 90 days, the weekly one 380.
    note = mail("pitch@x.example", [ME], AS_OF - timedelta(days=540))
    con = model([note, *weekly, *quarterly])
    got = dict(
        con.execute(
            "select person_id, (status, usual_gap_days, cooling_after_days, cold_after_days) "
            "from marts.relationship_status"
        ).fetchall()
    )
    # The prior is the median of the mean gaps of people with 3+ gaps: median(7, 90) = 48.5.
    # Weekly: 10 gaps of 7 -> a = 15, b = 5 x 48.5 + 70 = 312.5; a 380-day wait before a
    # 21-day rhythm says a new tie: odds = 540 x 15 / 692.5 x (312.5 / 692.5)^15 = 8e-5,
    # so the usual gap stays 312.5 / 15 = 20.8 and it is cold after 74.8 days.
    # Quarterly: 4 gaps of 90 -> a = 9, b = 602.5; odds = 540 x 9 / 692.5 x (602.5 /
    # 692.5)^9 = 7.018 x 0.2857 = 2.005, w = 0.667: a = 9.667, b = 662.5, usual gap
    # 68.5, cooling after 178.2 days: still active at 90.
    weekly_ab = posterior([7.0] * 10, 48.5, lead_in=380, history=540)
    quarterly_ab = posterior([90.0] * 4, 48.5, lead_in=90, history=540)
    assert round(weekly_ab[1] / weekly_ab[0], 1) == 20.8
    assert round(quarterly_ab[1] / quarterly_ab[0], 1) == 68.5
    assert got == {
        "wk@x.example": (
            "cold", round(weekly_ab[1] / weekly_ab[0], 1),
            round(silence_with_chance(0.1, *weekly_ab), 1),
            round(silence_with_chance(0.04, *weekly_ab), 1),
        ),
        "qt@x.example": (
            "active", round(quarterly_ab[1] / quarterly_ab[0], 1),
            round(silence_with_chance(0.1, *quarterly_ab), 1),
            round(silence_with_chance(0.04, *quarterly_ab), 1),
        ),
    }


def test_a_thread_over_two_days_is_one_touchpoint(model):
    start = AS_OF - timedelta(days=31)
    con = model(
        [
            mail(ME, ["ana@x.example"], start),
            mail("ana@x.example", [ME], start + timedelta(days=1)),
            mail(ME, ["ana@x.example"], start + timedelta(days=2)),
        ]
    )
    touchpoints, status, reason = row(
        con, "select touchpoints, status, reason from marts.relationship_status"
    )
    # One touchpoint, 29 days ago, first contact 31 days ago: not new any more. With no
    # gaps the rhythm is the fallback prior of 30 days (a = 5, b = 150). Ana's first contact
    # opens the history (H = 31 days, lead-in 0): odds = 31 x 5 / 150 = 1.033, w = 0.508,
    # so a zero-day lead-in counts as half a gap: usual gap 150 / 5.508 = 27.2 days;
    # cooling only after 150 x (0.1^(-1/5.508) - 1) = 77.8 days, so it is still active.
    assert (touchpoints, status) == (1, "active")
    assert "usually every 27 days" in reason


def test_group_mail_ends_a_silence_but_is_not_in_the_rhythm(model):
    days = lambda n: AS_OF - timedelta(days=n)  # noqa: E731
    # Ana: one-to-one mail every 30 days (190 ... 70 days ago), and group mail with Bo 15
    # days after each, the last one hers, 55 days ago. Cy appears only in group mail.
    personal = [mail(ME, ["ana@x.example"], days(190)), mail("ana@x.example", [ME], days(160)),
                mail(ME, ["ana@x.example"], days(130)), mail("ana@x.example", [ME], days(100)),
                mail(ME, ["ana@x.example"], days(70))]
    group = [mail(ME, ["ana@x.example", "bo@x.example"], days(n)) for n in (175, 145, 115, 85)]
    group.append(mail("ana@x.example", [ME, "bo@x.example"], days(55)))
    cy = [mail(ME, ["cy@x.example", "bo@x.example"], days(100)),
          mail("cy@x.example", [ME, "bo@x.example"], days(60))]
    con = model([*personal, *group, *cy])
    got = dict(con.execute("""
        select person_id, (status, touchpoints, mean_gap_days, usual_gap_days,
                           cooling_after_days, cold_after_days, days_silent)
        from marts.relationship_status""").fetchall())
    # Ana's rhythm is the five one-to-one messages: 4 gaps of 30 days. She is the only
    # person with 3+ gaps, so the prior is 30; her first message opens the history
    # (H = 190, L = 0): a = 9, b = 5 x 30 + 120 = 270, odds = 190 x 9 / 270 = 6.333,
    # w = 0.864, a = 9.864; usual gap 270 / 9.864 = 27.4, cooling after
    # 270 x (0.1^(-1/9.864) - 1) = 71.0 days, cold after 270 x (0.04^(-1/9.864) - 1) =
    # 104.2. Her group mail 55 days ago still ends the silence: active. (Counted in the
    # rhythm it would make ten touchpoints 15 days apart, and 55 days a cold silence.)
    a, b = posterior([30.0] * 4, 30, lead_in=0, history=190)
    assert (round(a, 3), b) == (9.864, 270)
    assert got["ana@x.example"] == (
        "active", 5, 30.0, 27.4,
        round(silence_with_chance(0.1, a, b), 1), round(silence_with_chance(0.04, a, b), 1),
        55.0,
    )
    assert (round(silence_with_chance(0.1, a, b), 1),
            round(silence_with_chance(0.04, a, b), 1)) == (71.0, 104.2)
    # Cy has no one-to-one contact, so all of it counts: two touchpoints 40 days apart.
    assert got["cy@x.example"][1:3] == (2, 40.0)
    assert "bo@x.example" not in got  # Bo never wrote: no tie


def test_new_and_one_way_contacts(model):
    con = model(
        [
            mail("new@x.example", [ME], AS_OF - timedelta(days=5)),
            mail(ME, ["new@x.example"], AS_OF - timedelta(days=4)),
            mail("pitch@x.example", [ME], AS_OF - timedelta(days=50)),
            mail("pitch@x.example", [ME], AS_OF - timedelta(days=40)),
        ]
    )
    statuses = con.execute(
        "select person_id, status, next_step from marts.relationship_status"
    ).fetchall()
    # The cold pitch never got an answer: not a tie, so no status at all.
    assert statuses == [("new@x.example", "new", "follow up while the first contact is fresh")]


def test_next_step_names_who_owes_a_reply(model):
    history = steady("ana@x.example", AS_OF - timedelta(days=200), 10, 10)
    history.append(mail("ana@x.example", [ME], AS_OF - timedelta(days=60)))
    con = model(history)
    status, next_step = row(con, "select status, next_step from marts.relationship_status")
    assert status == "cold"
    day = f"{(AS_OF - timedelta(days=60)):%Y-%m-%d}"
    assert next_step == f"reply: they wrote on {day} and have not heard back"


def test_next_step_when_they_answered_last_or_a_meeting_was_last(model):
    history = steady("ana@x.example", AS_OF - timedelta(days=200), 10, 10)
    asked = mail(ME, ["ana@x.example"], AS_OF - timedelta(days=61), rfc_id="ask@x")
    answer = mail("ana@x.example", [ME], AS_OF - timedelta(days=60), in_reply_to="ask@x")
    history += [asked, answer]
    bo = steady("bo@x.example", AS_OF - timedelta(days=200), 10, 10)
    met = meeting(AS_OF - timedelta(days=60), 30, [(ME, "accepted"), ("bo@x.example", "accepted")])
    con = model(history + bo, [met])
    steps = dict(
        con.execute("select person_id, next_step from marts.relationship_status").fetchall()
    )
    day = f"{(AS_OF - timedelta(days=60)):%Y-%m-%d}"
    assert steps == {
        "ana@x.example": f"write again: they answered you last, on {day}",
        "bo@x.example": f"follow up on your meeting of {day}",
    }


def test_every_model_table_and_column_is_commented(model):
    con = model([mail("ana@x.example", [ME], utc(2026, 5, 1))])
    uncommented = con.execute("""
        select schema_name || '.' || table_name || '.' || column_name
        from duckdb_columns()
        where schema_name in ('raw', 'core', 'marts') and (comment is null or comment = '')
    """).fetchall()
    assert uncommented == []
    tables = con.execute("""
        select schema_name || '.' || table_name, comment from duckdb_tables()
        where schema_name in ('raw', 'core', 'marts') order by 1""").fetchall()
    # Every table the model builds, and every raw table, is there and commented.
    expected = sorted([f"{schema}.{table}" for schema, table in MODEL_TABLES]
                      + [f"{schema}.{table}" for schema, table in BOOKKEEPING_TABLES]
                      + [f"raw.{table}" for table in RAW_TABLES]
                      # Laid down by the migrations, filled by the history asset.
                      + ["marts.status_history"])
    assert [t for t, _ in tables] == expected
    assert all(comment for _, comment in tables)


def conversation(person: str, first: datetime, times: int) -> list[MessageRecord]:
    """One thread, alternating directions a day apart, each message answering the last."""
    messages, previous = [], None
    for i in range(times):
        sender, to = (ME, [person]) if i % 2 == 0 else (person, [ME])
        rfc_id = f"{person}-{i}@conv"
        messages.append(mail(sender, to, first + timedelta(days=i), rfc_id=rfc_id,
                             in_reply_to=previous, thread=f"conv-{person}"))
        previous = rfc_id
    return messages


def test_open_loops_by_hand(model):
    # as of 1 June; window 90 days; reply grace 2, answer grace 7, meeting follow-up 3.
    # Each person first had a four-message thread that ended with their answer: closed.
    history = [
        *conversation("ana@x.example", AS_OF - timedelta(days=80), 4),
        *conversation("bo@x.example", AS_OF - timedelta(days=80), 4),
        *conversation("cy@x.example", AS_OF - timedelta(days=80), 4),
        # Ana opened a thread 10 days ago: you owe her a reply.
        mail("ana@x.example", [ME], AS_OF - timedelta(days=10)),
        # Yesterday's message from Bo is still within the two-day grace.
        mail("bo@x.example", [ME], AS_OF - timedelta(days=1)),
        # You asked Cy 20 days ago; her answer 19 days ago closes it...
        mail(ME, ["cy@x.example"], AS_OF - timedelta(days=20), rfc_id="q@x", thread="q"),
        mail("cy@x.example", [ME], AS_OF - timedelta(days=19), in_reply_to="q@x", thread="q"),
        # ...but your new question 8 days ago is unanswered past the 7-day grace.
        mail(ME, ["cy@x.example"], AS_OF - timedelta(days=8)),
        # A stranger's pitch is no loop: not a tie.
        mail("pitch@x.example", [ME], AS_OF - timedelta(days=5)),
    ]
    met_ana = meeting(AS_OF - timedelta(days=30), 30, [(ME, "accepted"),
                                                       ("ana@x.example", "accepted")])
    met_bo = meeting(AS_OF - timedelta(days=30), 30, [(ME, "accepted"),
                                                      ("bo@x.example", "accepted")])
    # You followed up the meeting with Bo the next day, and Bo answered.
    history.append(mail(ME, ["bo@x.example"], AS_OF - timedelta(days=29), rfc_id="f@x",
                        thread="f"))
    history.append(mail("bo@x.example", [ME], AS_OF - timedelta(days=28), in_reply_to="f@x",
                        thread="f"))
    con = model(history, [met_ana, met_bo])
    loops = con.execute("select person_id, loop, days_open from marts.open_loops "
                        "order by person_id, loop").fetchall()
    assert loops == [
        ("ana@x.example", "meeting_without_follow_up", 30.0),
        ("ana@x.example", "you_owe_reply", 10.0),
        ("cy@x.example", "they_owe_reply", 8.0),
    ]


def test_a_build_that_does_not_fit_the_memory_cap_runs_again_without_it(con, tmp_path, caplog):
    apply_batch(con, Batch(messages=[mail("ana@x.example", [ME], utc(2026, 5, 1))]))
    _, config = make_config(tmp_path, me={"addresses": [ME]})
    # core.identities merges what core.contacts, built before it, holds.
    build_table(con, "core", "contacts", config.model_params())
    # Far too little for anything: the first attempt fails, the second runs uncapped.
    con.execute("set memory_limit = '1MB'")
    with caplog.at_level(logging.WARNING, logger="assets.tables"):
        metadata = build_table(con, "core", "identities", config.model_params(),
                               memory_cap="1MB")
    assert "memory_cap_exceeded" in metadata
    assert "raise the setting" in caplog.text
    assert con.execute("select address from core.identities order by 1").fetchall() == [
        ("ana@x.example",), (ME,)]
    # Without a cap of the pipeline's own there is nothing to lift: the error stands.
    with pytest.raises(duckdb.OutOfMemoryException):
        build_table(con, "core", "people", config.model_params())
    # The cap is back for whatever runs next on the connection.
    assert con.execute("select current_setting('memory_limit')").fetchall() == [("976.5 KiB",)]


def test_the_warehouse_connection_takes_the_configured_memory_cap(tmp_path):
    warehouse = Warehouse(path=str(tmp_path / "w.duckdb"), memory_limit="1500MB")
    with warehouse.connect() as con:
        assert con.execute("select current_setting('memory_limit')").fetchall() == [
            ("1.3 GiB",)]  # DuckDB shows 1500 MB in GiB, rounded


def test_the_warehouse_connection_spills_at_most_half_the_free_disk(tmp_path, monkeypatch):
    # DuckDB's own bound is 90% of the free space: a runaway build would fill a laptop.
    free = 20 * 2**30
    monkeypatch.setattr("engine.warehouse.shutil.disk_usage",
                        lambda path: SimpleNamespace(total=100 * 2**30, used=80 * 2**30, free=free))
    warehouse = Warehouse(path=str(tmp_path / "w.duckdb"), memory_limit="1500MB")
    with warehouse.connect() as con:
        assert con.execute("select current_setting('max_temp_directory_size')").fetchall() == [
            ("10.0 GiB",)]


def test_dormant_means_cold_for_long_not_silent_a_year_on_a_slow_rhythm(model):
    # Slow: seen every 240 days (eight months), 1330 to 370 days ago: 4 gaps of 240,
    # silent 370. Fast: every 10 days, 490 to 400 days ago: 9 gaps of 10, silent 400.
    # Both silent over status.dormant_after_days (365), which alone made both dormant.
    slow = steady("slow@x.example", AS_OF - timedelta(days=1330), 240, 5)
    fast = steady("fast@x.example", AS_OF - timedelta(days=490), 10, 10)
    con = model([*slow, *fast])
    got = dict(con.execute(
        "select person_id, (status, usual_gap_days, cooling_after_days, cold_after_days, "
        "reason) from marts.relationship_status").fetchall())
    # Prior: median(240, 10) = 125. The slow contact's first message opens the history
    # (H = 1330, lead-in 0): a = 5 + 4 = 9, b = 5 x 125 + 960 = 1585, odds = 1330 x 9 /
    # 1585 = 7.552, w = 0.8831: a = 9.8831, usual gap 1585 / 9.8831 = 160.4, cooling after
    # 1585 x (0.1^(-1/9.8831) - 1) = 415.8, cold after 1585 x (0.04^(-1/9.8831) - 1) =
    # 610.2: at 370 days a gap like any other (chance 0.126), so active.
    # Fast: a = 5 + 9 = 14, b = 625 + 90 = 715; its 840-day lead-in is absurd for that
    # rhythm (odds 2e-4): a = 14.0002, b = 715.19, usual gap 51.1, cold after 184.9. At 400
    # days it is past its cold line and silent over a year: dormant.
    slow_ab = posterior([240.0] * 4, 125, lead_in=0, history=1330)
    fast_ab = posterior([10.0] * 9, 125, lead_in=840, history=1330)
    assert [round(x, 1) for x in (slow_ab[1] / slow_ab[0], silence_with_chance(0.1, *slow_ab),
                                  silence_with_chance(0.04, *slow_ab))] == [160.4, 415.8, 610.2]
    assert [round(x, 1) for x in (fast_ab[1] / fast_ab[0],
                                  silence_with_chance(0.04, *fast_ab))] == [51.1, 184.9]
    assert got == {
        "slow@x.example": ("active", 160.4, 415.8, 610.2,
                           "usually every 160 days; silent 370 days (2.3x that)"),
        "fast@x.example": ("dormant", 51.1, round(silence_with_chance(0.1, *fast_ab), 1), 184.9,
                           "usually every 51 days; silent 400 days (7.8x that), over 365 days: "
                           "fewer than 1 in 25 of their gaps last this long"),
    }
    assert row(con, "select next_step from marts.relationship_status where status = 'dormant'"
               ) == ("reconnect if they matter: old ties revive well",)
