"""Reciprocity, tie strength, Dunbar layers, cadences and the network summary, by hand.

Every expected value is worked out in the comments (or with plain arithmetic here) from
the crafted history, independently of the SQL.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest

from connectors.records import Attendee, EventRecord
from tests.crafted import AS_OF, ME, mail, meeting, row

NEW_YORK_WINTER = timezone(timedelta(hours=-5))
NEW_YORK_SUMMER = timezone(timedelta(hours=-4))


def days_before(days: float, hour: int = 0) -> datetime:
    return AS_OF - timedelta(days=days) + timedelta(hours=hour)


def strength(*, weighted_365d, days_silent, balance, meeting_hours, tenure_days) -> float:
    """Tie strength with the default weights and scales, written out by hand."""
    frequency = 1 - math.exp(-weighted_365d / 12)
    recency = 0.5 ** (days_silent / 90)
    reciprocity = 1 - abs(balance) if balance is not None else 1
    face_time = 1 - math.exp(-meeting_hours / 5)
    tenure = min(tenure_days / 1095, 1)
    return 100 * (0.30 * frequency + 0.25 * recency + 0.20 * reciprocity
                  + 0.15 * face_time + 0.10 * tenure)


def exchange(person: str, t: datetime, key: str) -> list:
    """The user writes, they answer an hour later."""
    return [
        mail(ME, [person], t, rfc_id=f"{key}-q", thread=key),
        mail(person, [ME], t + timedelta(hours=1), rfc_id=f"{key}-a", in_reply_to=f"{key}-q",
             thread=key),
    ]


def test_reply_rates_latencies_initiation_and_streaks(model):
    a = "a@x.example"
    t = datetime.fromisoformat
    con = model([
        # T1: the user opens, a answers after 1 hour.
        mail(ME, [a], t("2026-05-01T10:00+00:00"), rfc_id="m1", thread="T1"),
        mail(a, [ME], t("2026-05-01T11:00+00:00"), rfc_id="m2", in_reply_to="m1", thread="T1"),
        # T2: a opens, the user answers after 4 hours.
        mail(a, [ME], t("2026-05-05T09:00+00:00"), rfc_id="m3", thread="T2"),
        mail(ME, [a], t("2026-05-05T13:00+00:00"), rfc_id="m4", in_reply_to="m3", thread="T2"),
        # T3: a writes, never answered.
        mail(a, [ME], t("2026-05-10T09:00+00:00"), rfc_id="m5", thread="T3"),
        # T4-T6: the user writes three times into silence.
        mail(ME, [a], t("2026-05-20T09:00+00:00"), rfc_id="m6", thread="T4"),
        mail(ME, [a], t("2026-05-21T09:00+00:00"), rfc_id="m7", thread="T5"),
        mail(ME, [a], t("2026-05-22T09:00+00:00"), rfc_id="m8", thread="T6"),
    ])
    got = row(con, """
        select messages_sent, messages_received, reciprocity_balance, their_reply_rate,
               your_reply_rate, their_median_reply_hours, your_median_reply_hours,
               initiation_share, threads, unanswered_outbound_streak,
               unanswered_inbound_streak, last_two_way_at
        from marts.contact_metrics""")
    assert got == (
        5, 3,
        0.25,                # (5 - 3) / 8
        0.2,                 # of m1, m4, m6, m7, m8 only m1 was answered
        pytest.approx(1 / 3, abs=1e-4),  # of m2, m3, m5 only m3 was answered
        1.0, 4.0,
        pytest.approx(4 / 6, abs=1e-4),  # T1, T4, T5, T6 opened by the user
        6,
        3,                   # m6, m7, m8 since a last wrote (m5)
        0,
        t("2026-05-05T13:00+00:00"),  # m4, the user's reply, completed the last exchange
    )


def test_who_opened_a_thread_goes_by_key_when_both_sides_wrote_at_the_same_moment(model):
    a = "a@x.example"
    at = datetime.fromisoformat("2026-05-01T10:00+00:00")

    def keyed(message, key):
        message.message_key = key
        return message

    con = model([
        # T1 and T2: the user and a wrote at the same second; the smaller key opened it.
        keyed(mail(ME, [a], at, thread="T1"), "k-a"),
        keyed(mail(a, [ME], at, thread="T1"), "k-b"),
        keyed(mail(a, [ME], at + timedelta(days=1), thread="T2"), "k-c"),
        keyed(mail(ME, [a], at + timedelta(days=1), thread="T2"), "k-d"),
        # T3: a opened it, the user answered a minute later.
        keyed(mail(a, [ME], at + timedelta(days=2), thread="T3"), "k-e"),
        keyed(mail(ME, [a], at + timedelta(days=2, minutes=1), thread="T3"), "k-f"),
    ])
    got = row(con, "select initiation_share, threads from marts.contact_summaries")
    assert got == (pytest.approx(1 / 3), 3)  # T1 by the user; T2 and T3 by a


def test_tie_strength_components_by_hand(model):
    a = "a@x.example"
    t = datetime.fromisoformat
    con = model([
        mail(ME, [a], t("2026-05-01T10:00+00:00")),
        mail(a, [ME], t("2026-05-01T11:00+00:00")),
        mail(a, [ME], t("2026-05-05T09:00+00:00")),
        mail(ME, [a], t("2026-05-22T09:00+00:00")),
    ], events=[meeting(t("2026-05-12T15:00+00:00"), 90, [(ME, "accepted"), (a, "accepted")],
                       in_person=True)])
    got = row(con, """
        select frequency_score, recency_score, reciprocity_score, face_time_score,
               tenure_score, tie_strength, meeting_hours_365d, meetings_in_person,
               meetings_video, dunbar_layer
        from marts.contact_metrics""")
    # 4 messages to or from a alone, plus a two-person meeting: weighted 5.
    # Last contact 2026-05-22 09:00 -> as-of 2026-06-01 00:00 = 9.625 days.
    # Balance (2 - 2) / 4 = 0; 1.5 meeting hours; tenure 30 days 14 hours.
    tenure = 30 + 14 / 24
    assert got[:5] == pytest.approx((
        1 - math.exp(-5 / 12),
        0.5 ** (9.625 / 90),
        1.0,
        1 - math.exp(-1.5 / 5),
        tenure / 1095,
    ), abs=1e-4)
    expected = strength(weighted_365d=5, days_silent=9.625, balance=0, meeting_hours=1.5,
                        tenure_days=tenure)
    assert got[5] == pytest.approx(expected, abs=0.05)
    assert got[6:] == (1.5, 1, 0, 5)


def test_a_contact_only_by_meetings_is_a_balanced_tie(model):
    b = "b@x.example"
    con = model(events=[
        meeting(days_before(40, 10), 60, [(ME, "accepted"), (b, "accepted")]),
        meeting(days_before(10, 10), 30, [(ME, "accepted"), (b, "accepted")]),
    ])
    got = row(con, """
        select is_tie, messages_sent, reciprocity_balance, reciprocity_score, meetings,
               meetings_video, meeting_hours, their_reply_rate, initiation_share, threads
        from marts.contact_metrics""")
    assert got == (True, 0, None, 1.0, 2, 2, 1.5, None, None, 0)


def test_one_message_ever_is_not_a_tie_and_has_no_layer(model):
    con = model([mail("once@x.example", [ME], days_before(3))])
    got = row(con, "select is_tie, is_active_tie, dunbar_layer, interactions_30d "
                   "from marts.contact_metrics")
    assert got == (False, False, None, 1)
    assert con.execute("select count(*) from marts.relationship_status").fetchall() == [(0,)]


def test_a_person_with_three_addresses_is_counted_once(model):
    addresses = ["kim@a.example", "kim.private@gmail.com", "k.lee@b.example"]
    con = model([
        mail(addresses[0], [ME], days_before(30)),
        mail(ME, [addresses[1]], days_before(20)),
        # Written to two of their addresses at once: one interaction, not two.
        mail(ME, ["KimPrivate@googlemail.com", addresses[2]], days_before(10)),
    ], identities={"merge": [addresses]})
    got = row(con, "select person_id, addresses, messages_sent, messages_received, "
                   "weighted_365d from marts.contact_metrics")
    # The last message had two recipients, both Kim: n = 2, so weight 1/2 for that row.
    assert got == ("kim@a.example", sorted(["kim@a.example", "kimprivate@gmail.com",
                                            "k.lee@b.example"]), 2, 1, 2.5)


def test_a_thread_with_forty_recipients_barely_counts(model):
    crowd = [f"p{i}@big.example" for i in range(40)]
    con = model([
        mail(ME, crowd, days_before(20), rfc_id="all"),
        # p0 answers all: 40 recipients (the user and 39 others).
        mail(crowd[0], [ME, *crowd[1:]], days_before(19), rfc_id="re", in_reply_to="all"),
    ])
    got = con.execute("""
        select person_id, is_tie, weighted_365d from marts.contact_metrics
        where person_id in ('p0@big.example', 'p1@big.example') order by 1""").fetchall()
    # p0: 1/40 out + 1/40 in; p1: 1/40 out only (copied rows do not count).
    assert got == [("p0@big.example", True, 0.05), ("p1@big.example", False, 0.025)]


def test_replies_out_of_order_and_loaded_before_their_parent(model, con):
    a = "a@x.example"
    t = datetime(2026, 5, 1, 9, tzinfo=NEW_YORK_SUMMER)
    # The reply arrives in an earlier batch than its parent, and its clock runs 5 minutes
    # behind: it is still a reply, answered at once (latency 0, not -300 s).
    model([mail(a, [ME], t - timedelta(minutes=5), rfc_id="r", in_reply_to="q")])
    con = model([mail(ME, [a], t, rfc_id="q")])
    got = row(con, "select direction, reply_latency_s from core.interactions where is_reply")
    assert got == ("inbound", 0)


def test_time_zones_across_dst_and_midnight(model):
    a = "a@x.example"
    con = model([
        # 01:30 EST and 03:30 EDT on the night New York springs forward: one hour apart.
        mail(a, [ME], datetime(2026, 3, 8, 1, 30, tzinfo=NEW_YORK_WINTER), rfc_id="q"),
        mail(ME, [a], datetime(2026, 3, 8, 3, 30, tzinfo=NEW_YORK_SUMMER), rfc_id="r",
             in_reply_to="q"),
        # 23:30 on 31 May in New York is 03:30 on 1 June in UTC: after the as-of time.
        mail(a, [ME], datetime(2026, 5, 31, 23, 30, tzinfo=NEW_YORK_SUMMER)),
        # 19:30 in New York is 23:30 UTC: inside the last 30 days, just.
        mail(a, [ME], datetime(2026, 5, 2, 19, 30, tzinfo=NEW_YORK_SUMMER)),
    ])
    assert row(con, "select reply_latency_s from core.interactions where is_reply") == (3600,)
    got = row(con, "select messages_received, interactions_30d, last_inbound_at "
                   "from marts.contact_metrics")
    assert got == (2, 1, datetime(2026, 5, 2, 23, 30, tzinfo=UTC))


def test_dunbar_layers_rank_active_ties_by_strength(model):
    messages = []
    # Person i has i exchanges, all in the last 60 days: strength rises with i.
    for i in range(1, 8):
        for j in range(i):
            messages += exchange(f"p{i}@x.example", days_before(60 - 7 * j, 9), f"p{i}-{j}")
    messages += exchange("old@x.example", days_before(400), "old")  # a tie, but dormant
    messages.append(mail("oneway@x.example", [ME], days_before(5)))  # not a tie
    con = model(messages)
    got = dict(con.execute(
        "select person_id, dunbar_layer from marts.contact_metrics").fetchall())
    assert got == {
        **{f"p{i}@x.example": 5 for i in (7, 6, 5, 4, 3)},
        "p2@x.example": 15,
        "p1@x.example": 15,
        "old@x.example": None,
        "oneway@x.example": None,
    }
    ranks = [r for (r,) in con.execute(
        "select strength_rank from marts.contact_metrics where is_active_tie "
        "order by tie_strength desc").fetchall()]
    assert ranks == list(range(1, 8))


def test_role_and_list_addresses_are_not_people_unless_allowed(model):
    con = model([
        mail("team@startup.example", [ME], days_before(10)),
        mail(ME, ["team@startup.example"], days_before(9)),
        mail("Support+case123@vendor.example", [ME], days_before(8)),
        mail(ME, ["support@vendor.example"], days_before(7)),
        # A post to a mailing list: List-Id <dev.lists.example.org> names dev@lists.example.org.
        mail("ana@x.example", ["dev@lists.example.org"], days_before(6),
             list_id="Dev chat <dev.lists.example.org>"),
        mail(ME, ["dev@lists.example.org"], days_before(5)),
    ], noise={"allow": ["team@startup.example"]})
    kinds = dict(con.execute("select person_id, kind from core.people").fetchall())
    assert kinds == {
        "team@startup.example": "person",   # allow-listed: the user says it is a person
        "support@vendor.example": "role",
        "dev@lists.example.org": "list",
        "ana@x.example": "person",
    }
    reasons = dict(con.execute(
        "select person_id, noise_reason from core.interactions where direction = 'outbound'"
    ).fetchall())
    assert reasons == {
        "team@startup.example": None,
        "support@vendor.example": "not a person: role address",
        "dev@lists.example.org": "not a person: mailing list",
    }
    people = {p for (p,) in con.execute("select person_id from marts.contact_metrics").fetchall()}
    assert people == {"team@startup.example"}  # ana's only message went to a list: bulk


def test_split_keeps_a_spelling_apart(model):
    con = model([
        mail("ana+work@firm.example", [ME], days_before(10)),
        mail("ana@firm.example", [ME], days_before(9)),
    ], identities={"split": ["Ana+Work@firm.example"]})
    people = [p for (p,) in con.execute("select person_id from core.people order by 1").fetchall()]
    assert people == ["ana+work@firm.example", "ana@firm.example"]


def test_the_user_is_found_on_the_calendar_and_in_the_gmail_profile(model):
    gmail_message = mail("a@x.example", ["me@gmail-account.example"], days_before(3))
    gmail_message.account, gmail_message.source = "me@gmail-account.example", "gmail"
    event = EventRecord(
        account=ME, source="test", calendar_id="primary", event_key="ev",
        start_at=days_before(2, 10), end_at=days_before(2, 11), status="confirmed",
        attendees=[Attendee("me.calendar@other.example", is_self=True, response_status="accepted"),
                   Attendee("b@x.example", response_status="accepted")],
    )
    con = model([gmail_message], events=[event])
    selves = {a for (a,) in con.execute(
        "select address from core.identities where is_self").fetchall()}
    # (The configured address never appears in these records, so it is not listed.)
    assert selves == {"me@gmail-account.example", "me.calendar@other.example"}
    got = row(con, "select person_id, meetings_one_on_one from marts.contact_metrics "
                   "where meetings > 0")
    assert got == ("b@x.example", 1)


@pytest.mark.parametrize(("silent_days", "status"), [(9, "active"), (12, "cooling"),
                                                     (16, "cold"), (400, "cold")])
def test_a_cadence_the_user_sets_overrides_the_learned_rhythm(model, silent_days, status):
    # Contact every 3 days for a month: the learned rhythm alone would call 12 days cold.
    person = "mum@home.example"
    messages = []
    for n in range(10):
        messages += exchange(person, days_before(silent_days + 3 * (9 - n)), f"c{n}")
    con = model(messages, status={"as_of": AS_OF.isoformat(), "cadence": {"Mum@Home.example": 10}})
    got = row(con, "select status, cadence_days, reason from marts.relationship_status")
    days_silent = silent_days - 1 / 24  # the answer came an hour after the last question
    assert got == (status, 10,
                   f"you want contact every 10 days; silent {round(days_silent)} days")


def test_a_strong_tie_cooling_ranks_before_a_weak_tie_gone_cold(model):
    strong, weak = "strong@x.example", "weak@x.example"
    messages = []
    for n in range(20):  # every 5 days, the last 12 days ago: past a 10-day cadence
        messages += exchange(strong, days_before(12 + 5 * (19 - n)), f"s{n}")
    messages += exchange(weak, days_before(20), "w1")  # once, 20 days ago: past 1.5 x 10
    events = [meeting(days_before(12 + 5 * k, 10), 60, [(ME, "accepted"), (strong, "accepted")],
                      in_person=True) for k in range(4)]
    con = model(messages, events, status={"as_of": AS_OF.isoformat(),
                                          "cadence": {strong: 10, weak: 10}})
    got = con.execute("""
        select person_id, status, attention_rank, attention_score, tie_strength
        from marts.relationship_status order by attention_rank""").fetchall()
    assert [(p, s, r) for p, s, r, _, _ in got] == [(strong, "cooling", 1), (weak, "cold", 2)]
    for _, status, _, score, tie_strength in got:
        assert score == pytest.approx(tie_strength * {"cooling": 0.6, "cold": 1.0}[status],
                                      abs=0.06)


def test_three_unanswered_messages_suggest_another_channel(model):
    a = "a@x.example"
    messages = []
    # Answered every 20 days for 100 days, then three messages into silence; the last
    # of them long enough ago to be past the rhythm.
    for n in range(6):
        messages += exchange(a, days_before(300 - 20 * n, 9), f"e{n}")
    messages += [mail(ME, [a], days_before(d)) for d in (160, 150, 140)]
    con = model(messages)
    status, next_step = row(con, "select status, next_step from marts.relationship_status")
    assert status in ("cooling", "cold")
    assert next_step == ("they left your last 3 messages unanswered: "
                         "try another channel, or a meeting")


def test_network_summary_by_hand(model):
    messages = []
    messages += exchange("new@x.example", days_before(10), "n")        # first contact 10 d ago
    messages += exchange("lost@x.example", days_before(380), "l")      # dormant since 15 d
    messages += exchange("gone@x.example", days_before(500), "g")      # dormant long ago
    messages += exchange("steady@x.example", days_before(100), "s1")
    messages += exchange("steady@x.example", days_before(50), "s2")
    messages.append(mail("fan@x.example", [ME], days_before(3)))       # one-way: not a tie
    messages.append(mail(ME, ["steady@x.example"], days_before(2)))
    con = model(messages)
    got = row(con, """
        select people, ties, active_ties, over_limit, layer_5, layer_15, new_ties_30d,
               lost_ties_30d, messages_sent, messages_received, reciprocity_balance,
               initiation_share, dormant
        from marts.network_summary""")
    # Ties: new, lost, gone, steady (4); active: new, steady. Sent 6, received 5 to ties:
    # balance 1/11. Threads: 6, all opened by the user.
    assert got == (5, 4, 2, -148, 2, 2, 1, 1, 6, 5, round(1 / 11, 4), 1.0, 2)


def every(person: str, days_ago: list[float]) -> list:
    """One message at each of these times, alternating direction (so it is a tie)."""
    return [mail(ME, [person], days_before(d)) if i % 2 else mail(person, [ME], days_before(d))
            for i, d in enumerate(days_ago)]


@pytest.mark.parametrize(("opens_history", "status", "usual", "cold_after"),
                         [(True, "cold", 36.0, 139.9), (False, "cooling", 43.2, 169.3)])
def test_the_wait_before_the_first_contact_counts_as_a_gap(model, opens_history, status,
                                                            usual, cold_after):
    # Contact 285, 245, 205 and 165 days ago: 3 gaps of 40, silent 165 days. Alone with
    # history, the prior is 40: a = 5 + 3 = 8, b = 5 x 40 + 120 = 320. Without the lead-in
    # the cold line would be 320 x (0.04^(-1/8) - 1) = 158.5 days: cold at 165.
    person = "ana@x.example"
    messages = every(person, [285, 245, 205, 165])
    if opens_history:
        # Ana's first contact opens the history: H = 285, lead-in L = 0.
        # odds = 0.5/0.5 x 285 x 8 / 320 x (320/320)^8 = 7.125, w = 7.125 / 8.125 = 0.877:
        # a = 8.877, b = 320 + 0 = 320; usual gap 320 / 8.877 = 36.0 days;
        # cold after 320 x (0.04^(-1/8.877) - 1) = 320 x 0.4371 = 139.9: cold at 165.
        a, b = 8 + 7.125 / 8.125, 320.0
    else:
        # A one-way note 385 days ago opens the history: H = 385, L = 100 days of silence
        # before Ana's first contact. odds = 385 x 8 / 420 x (320/420)^8
        # = 7.333 x 0.1136 = 0.8327, w = 0.8327 / 1.8327 = 0.4544:
        # a = 8.4544, b = 320 + 0.4544 x 100 = 365.44; usual gap 365.44 / 8.4544 = 43.2;
        # cold after 365.44 x (0.04^(-1/8.4544) - 1) = 365.44 x 0.4633 = 169.3, cooling
        # after 365.44 x (0.1^(-1/8.4544) - 1) = 114.4: cooling at 165, not cold.
        messages.append(mail("pitch@x.example", [ME], days_before(385)))
        odds = 385 * 8 / 420 * (320 / 420) ** 8
        w = odds / (1 + odds)
        assert (round(odds, 4), round(w, 4)) == (0.8327, 0.4544)
        a, b = 8 + w, 320 + w * 100
    con = model(messages)
    got = row(con, """select status, usual_gap_days, cold_after_days, silence_probability
                      from marts.relationship_status""")
    assert round(b / a, 1) == usual
    assert round(b * (0.04 ** (-1 / a) - 1), 1) == cold_after
    assert got == (status, usual, cold_after,
                   pytest.approx(round((b / (b + 165)) ** a, 4), abs=1e-4))


def test_a_long_wait_before_a_quick_rhythm_is_a_new_tie_not_a_slow_one(model):
    # History opened 400 days ago by a one-way note; Ana's first contact came 300 days
    # later, then every 10 days: 8 gaps of 10, the prior 10, a = 13, b = 130. A 300-day
    # wait would be absurd for a 10-day rhythm: odds = 400 x 13 / 430 x (130/430)^13
    # = 12.09 x 1.8e-7 = 2e-6, so the lead-in is ignored and the usual gap stays 10.0
    # (counted blindly it would be (130 + 300) / 14 = 30.7).
    messages = [mail("pitch@x.example", [ME], days_before(400)),
                *every("ana@x.example", [100 - 10 * i for i in range(9)])]
    con = model(messages)
    assert row(con, "select usual_gap_days, status from marts.relationship_status") == (
        10.0, "active")
