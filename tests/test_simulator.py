"""The demo simulator: deterministic, and realistic enough to exercise every metric."""

from __future__ import annotations

import hashlib
import statistics
from collections import Counter
from dataclasses import astuple
from datetime import date, timedelta

import pytest

from connectors.demo import read_demo, simulate
from connectors.demo.simulator import MERGED_PERSON, USER

END = date(2026, 11, 1)


@pytest.fixture(scope="module")
def network():
    return simulate(seed=7, end=END)


def fingerprint(net) -> str:
    digest = hashlib.sha256()
    for record in [*net.messages, *net.events, *net.truth]:
        digest.update(repr(astuple(record)).encode())
    return digest.hexdigest()


def test_same_seed_same_network_other_seed_another(network):
    assert fingerprint(simulate(seed=7, end=END)) == fingerprint(network)
    assert fingerprint(simulate(seed=8, end=END)) != fingerprint(network)


def test_spans_the_window_with_dunbar_like_segments(network):
    times = [m.sent_at for m in network.messages]
    assert min(times).date() < END - timedelta(days=700)
    assert max(times).date() < END
    segments = Counter(t.segment for t in network.truth)
    assert segments["close"] == 5 and segments["regular"] == 12
    assert segments["acquaintance"] == 35 and segments["outer"] == 90
    assert segments["one_off"] > 50 and segments["outreach"] > 20 and segments["bulk"] == 8


def test_reply_delays_look_like_email(network):
    by_id = {m.rfc_message_id: m for m in network.messages}
    delays = [
        (m.sent_at - by_id[m.in_reply_to].sent_at).total_seconds() / 60
        for m in network.messages
        if m.in_reply_to in by_id
    ]
    assert len(delays) > 1000
    # Kooti et al. 2015: half of replies within about 47 minutes, most within a day.
    assert 30 < statistics.median(delays) < 70
    assert sum(d <= 24 * 60 for d in delays) / len(delays) > 0.9


def test_two_addresses_each_for_the_user_and_one_contact(network):
    senders = Counter(m.from_addrs[0].address for m in network.messages)
    assert senders[USER[0]] > 0 and senders[USER[1]] > 0
    to = Counter(a.address for m in network.messages for a in m.from_addrs + m.to_addrs)
    assert to[MERGED_PERSON[0]] > 0 and to[MERGED_PERSON[1]] > 0
    assert network.merges == [MERGED_PERSON]


def test_noise_and_meeting_varieties_are_present(network):
    assert sum(m.list_id is not None for m in network.messages) > 100
    assert sum(m.auto_submitted is not None for m in network.messages) > 100
    statuses = Counter(e.status for e in network.events)
    assert statuses["cancelled"] > 10
    declined = [
        e
        for e in network.events
        if any(a.is_self and a.response_status == "declined" for a in e.attendees)
    ]
    assert len(declined) > 10
    one_on_one = [e for e in network.events if len(e.attendees) == 2 and e.status == "confirmed"]
    assert any(e.has_location and not e.has_conference for e in one_on_one)
    assert any(e.has_conference and not e.has_location for e in one_on_one)
    assert any(len(e.attendees) > 20 for e in network.events)
    assert any(a.is_resource for e in network.events for a in e.attendees)
    assert any(e.event_type == "focusTime" for e in network.events)


def test_group_mail_and_introductions(network):
    assert sum(len(m.to_addrs) + len(m.cc_addrs) >= 3 for m in network.messages) > 20
    # An introduction: the user writes to two people at once, and one answers the other.
    intros = [
        m
        for m in network.messages
        if m.from_addrs[0].address in USER and len(m.to_addrs) == 2 and not m.cc_addrs
    ]
    answered = {
        m.in_reply_to
        for m in network.messages
        if m.from_addrs[0].address not in USER and m.to_addrs and m.to_addrs[0].address not in USER
    }
    assert any(i.rfc_message_id in answered for i in intros)


def test_planted_stops_really_stop(network):
    planted = [t for t in network.truth if t.planted_cold]
    assert 8 <= len(planted) <= 30
    last_seen: dict[str, object] = {}
    for m in network.messages:
        for a in m.from_addrs + m.to_addrs + m.cc_addrs:
            last_seen[a.address] = max(last_seen.get(a.address, m.sent_at), m.sent_at)
    # Personal meetings only: a planted person may still sit in the 40-person all-hands.
    for e in network.events:
        declined = any(a.is_self and a.response_status == "declined" for a in e.attendees)
        if e.status == "confirmed" and len(e.attendees) <= 20 and not declined:
            for a in e.attendees:
                last_seen[a.address] = max(last_seen.get(a.address, e.start_at), e.start_at)
    for t in planted:
        assert last_seen[t.address] <= t.stopped_at + timedelta(days=15), t


def test_outreach_is_never_answered(network):
    outreach = {t.address for t in network.truth if t.segment == "outreach"}
    written_to = {
        a.address
        for m in network.messages
        if m.from_addrs[0].address in USER
        for a in m.to_addrs + m.cc_addrs
    }
    assert outreach and not outreach & written_to


def test_read_demo_batches_cover_everything_once(network):
    batches = list(read_demo(network, batch_size=1000))
    assert batches[0].replace_account_source == (USER[0], "demo")
    assert sum(len(b.messages) for b in batches) == len(network.messages)
    assert sum(len(b.events) for b in batches) == len(network.events)
    assert batches[-1].cursor.value == {
        "messages": len(network.messages),
        "events": len(network.events),
    }
