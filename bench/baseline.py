"""The baseline: the headline per-person metrics the way a typical script computes them.

Plain Python over the raw rows, read once from DuckDB in chunks, with no SQL beyond
`select columns from raw.*`. It follows the rules of docs/metrics.md (the same address
normalisation, self and merge handling, noise rules and going-cold rule as the SQL), so
its numbers must equal the model's; `compare_with_model` checks that they do.

Covered, per person in marts.contact_metrics: first and last contact, last inbound and
last outbound, touchpoint counts over 30/90/365 days, messages sent and received,
reciprocity balance, meetings; per tie in marts.relationship_status: touchpoints, mean
gap, usual gap (shrunk toward the network) and status (new / active / cooling / cold /
dormant, the cold flag included). Not covered: weights, meeting hours, reasons, next
steps, open loops. The model has no median gap (docs/metrics.md explains why it uses the
mean), so neither does the baseline.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import duckdb

MICROS_PER_DAY = 86_400 * 1_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CHUNK_ROWS = 50_000
AUTOMATED_LOCAL_PART = re.compile(
    r"^(no-?reply|do-?not-?reply|donotreply|notifications?|notify|mailer-daemon|postmaster"
    r"|bounces?|alerts?)([.-].*)?$"
)
BULK_PRECEDENCE = {"bulk", "list", "junk"}
LIST_ID_ADDRESS = re.compile(r"<([^>]+)>")
NOISY_CATEGORIES = {"CATEGORY_PROMOTIONS", "CATEGORY_SOCIAL", "CATEGORY_FORUMS"}

MESSAGE_COLUMNS = """
    account, source, labels, from_addrs, to_addrs, cc_addrs, bcc_addrs, epoch_us(sent_at), list_id,
    has_list_unsubscribe, precedence, auto_submitted
"""
EVENT_COLUMNS = """
    status, event_type, all_day, attendees, epoch_us(start_at), organizer
"""


@dataclass(slots=True)
class Person:
    """What the baseline keeps per person: the times of the contact that counts."""

    times: list[int] = field(default_factory=list)
    # Contact with nobody else on it (one-to-one mail) and meetings: what the rhythm uses.
    personal: list[int] = field(default_factory=list)
    inbound: list[int] = field(default_factory=list)
    outbound: list[int] = field(default_factory=list)
    meetings: int = 0


def _rows(con: duckdb.DuckDBPyConnection, query: str) -> Iterator[tuple]:
    result = con.execute(query)
    while chunk := result.fetchmany(CHUNK_ROWS):
        yield from chunk


class Normaliser:
    """normalize_address from schemas.sql, memoised: addresses repeat on every message."""

    def __init__(self, keep: list[str]) -> None:
        self.keep = set(keep)
        self.cache: dict[str | None, str | None] = {}

    def __call__(self, written: str | None) -> str | None:
        try:
            return self.cache[written]
        except KeyError:
            self.cache[written] = normalised = self.normalise(written)
            return normalised

    def normalise(self, written: str | None) -> str | None:
        if written is None or not written.strip(" "):
            return None
        lowered = written.strip(" ").lower()
        if lowered in self.keep:
            return lowered
        parts = lowered.split("@")
        local = parts[0].split("+", 1)[0]
        domain = parts[1] if len(parts) > 1 else ""
        if domain == "googlemail.com":
            domain = "gmail.com"
        if domain == "gmail.com":
            return local.replace(".", "") + "@" + domain
        return local if domain == "" else local + "@" + domain


def _looks_like_address(written: str | None) -> bool:
    # SQL: written like '%_@_%'
    return written is not None and "@" in written[1:-1]


def _list_address(list_id: str) -> str:
    # SQL: regexp_extract gives '' when nothing matches, and regexp_replace without 'g'
    # replaces the first dot only.
    found = LIST_ID_ADDRESS.search(list_id)
    return (found.group(1) if found else "").lower().replace(".", "@", 1)


def _half_away(value: float, digits: int) -> float:
    """round() as DuckDB does it: halves away from zero (Python rounds them to even)."""
    scaled = value * 10**digits
    return math.copysign(math.floor(abs(scaled) + 0.5), scaled) / 10**digits


def _quantile_median(values: list[float]) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) / 2
    low = ordered[math.floor(position)]
    high = ordered[math.ceil(position)]
    return low + (high - low) * (position - math.floor(position))


@dataclass
class Mailbox:
    """The raw rows reduced, in one pass, to what the rules need."""

    messages: list[tuple] = field(default_factory=list)
    events: list[tuple] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    user: set[str] = field(default_factory=set)
    lists: set[str] = field(default_factory=set)


def _read(con: duckdb.DuckDBPyConnection, normalise: Normaliser, params: dict) -> Mailbox:
    box = Mailbox(user={normalise(a) for a in params["self_addresses"]})
    # The SQL folds a Gmail account's own address without the user's split list.
    fold_account = Normaliser([])
    for (
        account, source, labels, from_, to, cc, bcc, sent_us, list_id, unsubscribe,
        precedence, auto,
    ) in _rows(con, f"select {MESSAGE_COLUMNS} from raw.messages"):  # fmt: skip
        for a in (*from_, *to, *cc, *bcc):
            if _looks_like_address(a["address"]):
                box.seen.add(normalise(a["address"]))
        if source == "gmail":
            box.user.add(fold_account(account))
        if list_id is not None:
            box.lists.add(_list_address(list_id))
        sender = normalise(from_[0]["address"]) if from_ else None
        sent_label = labels is not None and "SENT" in labels
        if sent_label and from_:
            box.user.add(sender)
        # The SQL's `not list_has_any(labels, ...)` is null, so false, for null labels.
        if labels is None or "DRAFT" in labels or "SPAM" in labels:
            continue
        recipients = tuple({normalise(a["address"]) for a in (*to, *cc, *bcc)} - {None})
        bulk = (
            list_id is not None
            or unsubscribe
            or precedence in BULK_PRECEDENCE
            or (auto is not None and auto != "no")
            or not NOISY_CATEGORIES.isdisjoint(labels)
        )
        box.messages.append((sent_us, sender, recipients, sent_label, bulk))
    for status, event_type, all_day, attendees, start_us, organizer in _rows(
        con, f"select {EVENT_COLUMNS} from raw.events"
    ):
        for a in attendees:
            if _looks_like_address(a["address"]):
                box.seen.add(normalise(a["address"]))
            if a["is_self"]:
                box.user.add(normalise(a["address"]))
        if _looks_like_address(organizer):
            box.seen.add(normalise(organizer))
        box.events.append((status, event_type, all_day, attendees, start_us))
    box.user.discard(None)
    return box


def compute(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> dict[str, dict]:
    """Per-person metrics from raw.messages and raw.events, keyed by person_id.

    Args:
        con: a connection to a warehouse with raw.* loaded.
        params: the model's parameters (`KeepwarmConfig.model_params()`).

    Returns:
        person_id -> the metrics listed in this module's docstring (ties carry status).
    """
    normalise = Normaliser(params["split_addresses"])
    allowed = [pattern.lower() for pattern in params["allow_list"]]
    roles = set(params["role_local_parts"])

    def allow_listed(address: str | None) -> bool:
        return address is not None and any(
            p == address or (p.startswith("@") and address.endswith(p)) for p in allowed
        )

    box = _read(con, normalise, params)
    seen, user = box.seen, box.user
    merged_into = {
        normalise(a): normalise(b)
        for a, b in zip(params["merge_addresses"], params["merge_into"], strict=True)
    }
    automated, not_a_person = set(), set()
    for address in seen:
        if allow_listed(address):
            continue
        if AUTOMATED_LOCAL_PART.match(address.split("@")[0]):
            automated.add(address)
        if address in box.lists or address.split("@")[0] in roles:
            not_a_person.add(address)

    def person_of(address: str | None) -> str | None:
        if address not in seen or address in user or address in not_a_person:
            return None
        return merged_into.get(address, address)

    as_of = (params["as_of"] - EPOCH) // timedelta(microseconds=1)
    people: dict[str, Person] = defaultdict(Person)

    def count(person: str, at: int, direction: str, personal: bool = True) -> None:
        if at > as_of:
            return
        record = people[person]
        record.times.append(at)
        if personal:
            record.personal.append(at)
        if direction == "inbound":
            record.inbound.append(at)
        elif direction == "outbound":
            record.outbound.append(at)
        else:
            record.meetings += 1

    for sent_us, sender, recipients, sent_label, bulk in box.messages:
        if sent_label:
            outbound = True
        elif sender not in seen:
            continue  # the SQL's outbound is null here: neither direction
        else:
            outbound = sender in user
        if (bulk or sender in automated) and not allow_listed(sender):
            continue
        if outbound:
            others = [r for r in recipients if r not in user]
            for person in {person_of(r) for r in others} - {None}:
                count(person, sent_us, "outbound", personal=len(others) <= 1)
        elif sender is not None and (person := person_of(sender)):
            count(person, sent_us, "inbound", personal=len(recipients) <= 1)

    max_attendees = params["max_meeting_attendees"]
    for status, event_type, all_day, attendees, start_us in box.events:
        humans = [a for a in attendees if not a["is_resource"]]
        self_declined = any(
            a["response_status"] == "declined"
            for a in attendees
            if a["is_self"] or normalise(a["address"]) in user
        )
        if (
            status == "cancelled"
            or event_type != "default"
            or all_day
            or self_declined
            or len(humans) > max_attendees
        ):
            continue
        attending = {
            person_of(normalise(h["address"]))
            for h in humans
            if h["response_status"] != "declined"
        }
        for person in attending - {None}:
            count(person, start_us, "meeting")

    # core.people.kind: one ordinary address makes a (merged) person a person.
    merged_people = set(merged_into.values())
    metrics = {}
    for person_id, record in people.items():
        members = (
            [a for a in seen if a not in user and merged_into.get(a, a) == person_id]
            if person_id in merged_people
            else [person_id]
        )
        if all(a in automated or a in not_a_person for a in members):
            continue
        metrics[person_id] = _contact_metrics(record, as_of)
    cadences: dict[str, float] = {}
    for address, days in zip(params["cadence_addresses"], params["cadence_days"], strict=True):
        address = normalise(address)
        if address in seen:
            person_id = merged_into.get(address, address)
            cadences[person_id] = min(days, cadences.get(person_id, days))
    _judge(metrics, people, cadences, params, as_of)
    return metrics


def _contact_metrics(record: Person, as_of: int) -> dict:
    sent, received = len(record.outbound), len(record.inbound)
    return {
        "first_contact_us": min(record.times),
        "last_contact_us": max(record.times),
        "last_inbound_us": max(record.inbound, default=None),
        "last_outbound_us": max(record.outbound, default=None),
        **{
            f"interactions_{days}d": sum(t > as_of - days * MICROS_PER_DAY for t in record.times)
            for days in (30, 90, 365)
        },
        "messages_sent": sent,
        "messages_received": received,
        "reciprocity_balance": (
            _half_away((sent - received) / (sent + received), 4) if sent + received else None
        ),
        "meetings": record.meetings,
        "is_tie": (sent > 0 and received > 0) or record.meetings > 0,
    }


def _seconds(micros: int) -> int:
    # date_diff('second', a, b) counts whole-second boundaries crossed.
    return micros // 1_000_000


def _judge(
    metrics: dict, people: dict[str, Person], cadences: dict[str, float], params: dict,
    as_of: int,
) -> None:
    """Add the going-cold rule's figures and status to every tie (docs/metrics.md), and to
    everyone the user set a cadence for."""
    rhythms = {}
    for person_id, m in metrics.items():
        if not m["is_tie"] and person_id not in cadences:
            continue
        touchpoints: list[tuple[int, int]] = []
        previous = None
        # The rhythm is one-to-one mail and meetings; someone seen only in group mail
        # keeps all of it.
        record = people[person_id]
        for t in sorted(set(record.personal or record.times)):
            if previous is None or (_seconds(t) - _seconds(previous)) / 86400 > params[
                "session_gap_days"
            ]:
                touchpoints.append((t, t))
            else:
                touchpoints[-1] = (touchpoints[-1][0], t)
            previous = t
        gaps = [
            (_seconds(began) - _seconds(ended_before)) / 86400
            for (_, ended_before), (began, _) in pairwise(touchpoints)
        ]
        rhythms[person_id] = (gaps, touchpoints[0][0])
    rich = [sum(g) / len(g) for g, _ in rhythms.values() if len(g) >= 3]
    prior = _quantile_median(rich) if rich else params["fallback_prior_gap_days"]
    # The history begins at the first contact with anyone (marts.contact_metrics).
    started = _seconds(min((m["first_contact_us"] for m in metrics.values()), default=as_of))
    history = (_seconds(as_of) - started) / 86400
    prior_odds = params["predates_history_probability"] / (
        1 - params["predates_history_probability"])
    for person_id, (gaps, first) in rhythms.items():
        m = metrics[person_id]
        mean_gap = sum(gaps) / len(gaps) if gaps else None
        shape = params["prior_weight"] + len(gaps)
        scale = params["prior_weight"] * prior + len(gaps) * (mean_gap or 0)
        # The lead-in counts as one more gap, weighted by the chance the tie predates the
        # history: odds = prior odds x H x [a / (b + L)] x (b / (b + L))^a.
        lead_in = (_seconds(first) - started) / 86400
        odds = (prior_odds * history * shape / (scale + lead_in)
                * (scale / (scale + lead_in)) ** shape)
        predates = odds / (1 + odds)
        shape, scale = shape + predates, scale + predates * lead_in
        cooling_after = max(
            scale * (params["cooling_probability"] ** (-1.0 / shape) - 1),
            params["min_cooling_days"],
        )
        cold_after = max(
            scale * (params["cold_probability"] ** (-1.0 / shape) - 1), params["min_cold_days"]
        )
        silent = (_seconds(as_of) - _seconds(m["last_contact_us"])) / 86400
        known = (_seconds(as_of) - _seconds(m["first_contact_us"])) / 86400
        few = len(gaps) + 1 < params["min_touchpoints"]
        cadence = cadences.get(person_id)
        if cadence is not None:
            status = "cold" if silent > 1.5 * cadence else (
                "cooling" if silent > cadence else "active")
        elif known <= params["new_days"] and few:
            status = "new"
        elif (few and (silent > cold_after or silent > params["dormant_after_days"])) or (
                silent > cold_after and silent > params["dormant_after_days"]):
            status = "dormant"  # never became regular, or lapsed: cold, and for long
        elif silent > cold_after:
            status = "cold"
        elif silent > cooling_after:
            status = "cooling"
        else:
            status = "active"
        m.update(
            touchpoints=len(gaps) + 1,
            mean_gap_days=None if mean_gap is None else _half_away(mean_gap, 1),
            usual_gap_days=_half_away(scale / shape, 1),
            status=status,
        )


# --- the model's figures, for the comparison ----------------------------------------------

MODEL_METRICS = """
    select
        m.person_id,
        epoch_us(m.first_contact_at), epoch_us(m.last_contact_at),
        epoch_us(m.last_inbound_at), epoch_us(m.last_outbound_at),
        m.interactions_30d, m.interactions_90d, m.interactions_365d,
        m.messages_sent, m.messages_received, m.reciprocity_balance, m.meetings, m.is_tie,
        s.touchpoints, s.mean_gap_days, s.usual_gap_days, s.status
    from marts.contact_metrics m
    left join marts.relationship_status s using (person_id)
"""
COMPARED = (
    "first_contact_us", "last_contact_us", "last_inbound_us", "last_outbound_us",
    "interactions_30d", "interactions_90d", "interactions_365d",
    "messages_sent", "messages_received", "reciprocity_balance", "meetings", "is_tie",
    "touchpoints", "mean_gap_days", "usual_gap_days", "status",
)  # fmt: skip


def model_metrics(con: duckdb.DuckDBPyConnection) -> dict[str, dict]:
    """The same figures read from marts.contact_metrics and marts.relationship_status."""
    metrics = {}
    for person_id, *values in _rows(con, MODEL_METRICS):
        row = dict(zip(COMPARED, values, strict=True))
        if row["status"] is None:  # not in marts.relationship_status
            for name in ("touchpoints", "mean_gap_days", "usual_gap_days", "status"):
                del row[name]
        metrics[person_id] = row
    return metrics


def differences(baseline: dict[str, dict], model: dict[str, dict], limit: int = 10) -> list[str]:
    """Where the baseline and the model disagree (at most `limit` lines); empty when equal."""
    found = []
    for person_id in sorted(baseline.keys() ^ model.keys())[:limit]:
        side = "baseline" if person_id in baseline else "model"
        found.append(f"{person_id}: only in the {side}")
    for person_id in sorted(baseline.keys() & model.keys()):
        if len(found) >= limit:
            break
        ours, theirs = baseline[person_id], model[person_id]
        for name in sorted(ours.keys() | theirs.keys()):
            if ours.get(name) != theirs.get(name):
                found.append(
                    f"{person_id}.{name}: baseline {ours.get(name)!r}, model {theirs.get(name)!r}"
                )
    return found[:limit]

