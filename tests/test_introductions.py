"""marts.introductions: crafted mailboxes worked by hand, then the simulator's planted
introductions as truth."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from connectors.demo import read_demo, simulate
from engine.warehouse import apply_batch, ensure_schema
from tests.conftest import make_config, rebuild_model
from tests.crafted import ME, mail, meeting

ANA, BO = "ana@north.example", "bo@south.example"
XI = "xi@old-friend.example"  # a tie of the user's, who introduces people
T = datetime.fromisoformat("2026-04-01T10:00:00+00:00")


def introductions(con) -> list[tuple]:
    return con.execute("""
        select kind, introducer_id, person_a_id, person_b_id, followed_up,
               first_follow_up_at, days_to_follow_up, follow_ups, became_tie
        from marts.introductions order by introduced_at, kind""").fetchall()


def friendship(person: str, at: datetime) -> list:
    """One message each way: a tie."""
    return [mail(person, [ME], at), mail(ME, [person], at + timedelta(hours=2))]


def test_introduction_made_and_taken_up(model):
    con = model([
        mail(ME, [ANA, BO], T, rfc_id="intro", thread="t-intro"),
        # Ana answers Bo and moves the user to Bcc: the user's copy shows only Bo.
        mail(ANA, [BO], T + timedelta(hours=3), in_reply_to="intro", thread="t-intro"),
        # Ten days on, Bo writes to Ana with the user in copy, in a thread of its own.
        mail(BO, [ANA], T + timedelta(days=10), cc=(ME,)),
    ])
    # First contact 3 hours on: 3 / 24 = 0.125 days, shown as 0.1; two contacts in all.
    assert introductions(con) == [
        ("made", None, ANA, BO, True, T + timedelta(hours=3), 0.1, 2, None),
    ]
    names = con.execute(
        "select introducer_name, person_a_name, person_b_name, thread_key "
        "from marts.introductions").fetchall()
    assert names == [("you", "ana", "bo", "t-intro")]


def test_introduction_made_that_nobody_took_up(model):
    con = model([
        mail(ME, [ANA, BO], T, rfc_id="intro", thread="t-intro"),
        # Ana thanks the user alone; she and Bo never write to each other.
        mail(ANA, [ME], T + timedelta(hours=1), in_reply_to="intro", thread="t-intro"),
        # Later the user writes to both again: that is the user's contact, not theirs.
        mail(ME, [ANA, BO], T + timedelta(days=7)),
    ])
    assert introductions(con) == [("made", None, ANA, BO, False, None, None, 0, None)]


def test_a_message_to_six_is_no_introduction(model):
    group = [f"p{i}@many.example" for i in range(6)]
    con = model([
        mail(ME, group, T, rfc_id="blast", thread="t-blast"),
        mail(group[0], [ME, *group[1:]], T + timedelta(hours=1), in_reply_to="blast",
             thread="t-blast"),
    ])
    assert introductions(con) == []


def test_people_seen_together_before_are_not_introduced(model):
    cy, dee, eve, fay = (f"{n}@x.example" for n in ("cy", "dee", "eve", "fay"))
    con = model(
        [
            # Cy and Dee were on one message before (the user knew both already, so it
            # was no referral); Eve and Fay met with the user.
            mail(cy, [ME], T - timedelta(days=40)),
            mail(dee, [ME], T - timedelta(days=40)),
            mail(cy, [ME], T - timedelta(days=30), cc=(dee,)),
            mail(ME, [cy, dee], T),
            mail(ME, [eve, fay], T),
        ],
        events=[meeting(T - timedelta(days=60), 30, [(ME, "accepted"), (eve, "accepted"),
                                                     (fay, "accepted")])],
    )
    assert introductions(con) == []


def test_a_copied_colleague_is_not_introduced(model):
    # The user writes to a client and copies a colleague who never met them: keeping
    # someone informed is not introducing them, even though the two then correspond.
    client, colleague = "client@buyer.example", "colleague@work.example"
    con = model([
        mail(ME, [client], T, cc=(colleague,)),
        mail(client, [ME], T + timedelta(hours=1), cc=(colleague,)),
    ])
    assert introductions(con) == []


def test_referral_that_grew_into_a_tie(model):
    nia = "nia@newco.example"
    con = model([
        *friendship(XI, T - timedelta(days=90)),
        mail(XI, [ME, nia], T),
        # Nia writes a day later, the user answers the day after: a tie.
        mail(nia, [ME], T + timedelta(days=1)),
        mail(ME, [nia], T + timedelta(days=2)),
    ])
    assert introductions(con) == [
        ("received", XI, None, nia, True, T + timedelta(days=1), 1.0, 2, True),
    ]
    names = con.execute(
        "select introducer_name, person_a_name, person_b_name from marts.introductions"
    ).fetchall()
    assert names == [("xi", "you", "nia")]


def test_referral_the_newcomer_never_answered(model):
    ned = "ned@newco.example"
    con = model([
        *friendship(XI, T - timedelta(days=90)),
        mail(XI, [ME], T, cc=(ned,)),
        # The user writes to Ned three days later; Ned never answers.
        mail(ME, [ned], T + timedelta(days=3)),
    ])
    assert introductions(con) == [
        ("received", XI, None, ned, True, T + timedelta(days=3), 3.0, 1, False),
    ]


def test_newcomer_from_a_stranger_or_a_familiar_face_is_no_referral(model):
    pitcher, their_colleague = "sales@vendor.example", "se@vendor.example"
    con = model([
        *friendship(XI, T - timedelta(days=90)),
        mail(BO, [ME], T - timedelta(days=20)),
        # A stranger's pitch copying a colleague: the user never answers the stranger.
        mail(pitcher, [ME, their_colleague], T),
        mail(their_colleague, [ME], T + timedelta(days=2)),
        # Xi copies Bo, whom the user already knows: nobody new was brought in.
        mail(XI, [ME, BO], T + timedelta(days=5)),
    ])
    assert introductions(con) == []


def test_new_person_added_to_a_running_thread(model):
    noor = "noor@newco.example"
    con = model([
        mail(ME, [XI], T - timedelta(days=3), rfc_id="q", thread="t-run"),
        mail(XI, [ME], T - timedelta(days=2), rfc_id="a", in_reply_to="q", thread="t-run"),
        # Xi answers again, bringing Noor in on Cc; Noor replies to all a day later and
        # the user answers Noor.
        mail(XI, [ME], T, cc=(noor,), rfc_id="b", in_reply_to="a", thread="t-run"),
        mail(noor, [ME, XI], T + timedelta(days=1), rfc_id="c", in_reply_to="b",
             thread="t-run"),
        mail(ME, [noor], T + timedelta(days=2), in_reply_to="c", thread="t-run"),
    ])
    assert introductions(con) == [
        ("received", XI, None, noor, True, T + timedelta(days=1), 1.0, 2, True),
    ]
    assert con.execute("select thread_key from marts.introductions").fetchall() == [("t-run",)]


def test_a_meeting_of_the_two_counts_as_taking_it_up(model):
    con = model(
        [mail(ME, [ANA, BO], T)],
        events=[meeting(T + timedelta(days=14), 30, [(ME, "accepted"), (ANA, "accepted"),
                                                     (BO, "accepted")])],
    )
    assert introductions(con) == [
        ("made", None, ANA, BO, True, T + timedelta(days=14), 14.0, 1, None),
    ]


# -- the simulator's planted introductions ---------------------------------------------

END = date(2026, 11, 1)


def identify(kind: str, introducer: str | None, a: str | None, b: str) -> frozenset | tuple:
    """A made introduction is known by its pair, a referral by referrer and newcomer. The
    simulator's addresses are the person ids (its one merge keeps the first address)."""
    return frozenset((a, b)) if kind == "made" else (introducer, b)


def found_and_planted(
    seed: int, folder: Path, profile: str = "default"
) -> dict[str, tuple[set, set, set]]:
    """Load a simulated network into a DuckDB file in `folder`, rebuild the model as of
    END, and pair what marts.introductions found (and which of those were taken up) with
    what the simulator planted, per kind."""
    network = simulate(seed=seed, end=END, profile=profile)
    with duckdb.connect(str(folder / "demo.duckdb")) as con:
        ensure_schema(con)
        for batch in read_demo(network):
            apply_batch(con, batch)
        _, config = make_config(
            folder,
            me={"addresses": list(network.user_addresses)},
            identities={"merge": [list(group) for group in network.merges]},
            status={"as_of": f"{END}T00:00:00+00:00"},
        )
        rebuild_model(con, config)
        rows = con.execute(
            "select kind, introducer_id, person_a_id, person_b_id, followed_up "
            "from marts.introductions"
        ).fetchall()
    found, taken_up, planted = ({"made": set(), "received": set()} for _ in range(3))
    for kind, introducer, a, b, followed_up in rows:
        found[kind].add(identify(kind, introducer, a, b))
        if followed_up:
            taken_up[kind].add(identify(kind, introducer, a, b))
    for i in network.introductions:
        kind = "made" if i.introducer == "you" else "received"
        planted[kind].add(identify(kind, i.introducer, i.a, i.b))
    return {kind: (found[kind], taken_up[kind], planted[kind]) for kind in found}


@pytest.mark.parametrize("seed", [7, 11, 23])
def test_finds_the_simulators_introductions(seed, tmp_path):
    for kind, (found, taken_up, planted) in found_and_planted(seed, tmp_path).items():
        correct = len(found & planted)
        precision = correct / len(found) if found else 0.0
        recall = correct / len(planted) if planted else 0.0
        print(f"seed {seed} {kind}: found {len(found)}, planted {len(planted)}, "
              f"correct {correct}, precision {precision:.2f}, recall {recall:.2f}")
        assert planted, f"seed {seed} planted no {kind} introductions"
        assert precision >= 0.9 and recall >= 0.9, (kind, found ^ planted)
        # Every planted introduction was taken up (A answers B; the newcomer writes first).
        assert found & planted <= taken_up, (kind, (found & planted) - taken_up)
