"""Gather the digest and person profiles from the warehouse into plain data.

Every list is chosen, ordered and counted by a SQL file in assets/sql/outputs/ (bound
parameters, nothing formatted into SQL); this module only words the rows. The renderers
(render.py) lay the result out and compute nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import duckdb

from engine.config import StatusConfig
from engine.digest import charts
from engine.warehouse import SQL_DIR, query_sql_file

OUTPUTS_SQL = SQL_DIR / "outputs"
# Coming up: key dates over the next fortnight; meetings: today and the next week.
KEY_DATE_DAYS = 14
MEETING_DAYS = 7
# New jobs: changes first seen this many days back, when the caller does not pass
# status.job_change_days (the window in which relationship_status suggests congratulating).
DEFAULT_JOB_CHANGE_DAYS = 60
# Introductions older than a year that never took are history, not a to-do.
INTRODUCTION_DAYS = 365
# The minimum regular contact a dormant tie needs to be worth reviving, when the caller
# does not pass status.min_touchpoints.
DEFAULT_MIN_TOUCHPOINTS = 3
# How long a silence ends a tie being kept up, when the caller does not pass
# status.dormant_after_days.
DEFAULT_DORMANT_AFTER_DAYS = StatusConfig.model_fields["dormant_after_days"].default
# A card on the digest page lists a person's latest this many interactions (and says how
# many there are): the busiest ties have thousands, `keepwarm person` prints them all.
CARD_TIMELINE = 100


@dataclass(frozen=True)
class PersonRef:
    """A person named in the digest; the HTML links the name to their card."""

    person_id: str
    name: str


@dataclass(frozen=True)
class Item:
    """One entry of a list: who, a short line of facts, why it is listed, what to do."""

    people: tuple[PersonRef, ...] = ()
    label: str = ""  # what the entry is about when it is not (only) people: a date, a meeting
    facts: str = ""
    reason: str = ""
    next_step: str = ""
    details: tuple[str, ...] = ()
    children: tuple[Item, ...] = ()


@dataclass(frozen=True)
class Section:
    """A numbered list of the digest, with its full count: `more` were cut off."""

    number: int
    key: str
    title: str
    rule: str
    total: int
    items: tuple[Item, ...]
    summary: str = ""
    empty: str = "Nothing here today."

    @property
    def more(self) -> int:
        return self.total - len(self.items)


@dataclass(frozen=True)
class Chart:
    """A chart: its SVG for the page, and the same figures as a table for text."""

    title: str
    caption: str
    svg: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Spark:
    """One of the strongest ties, with its strength over time."""

    person: PersonRef
    layer: int | None
    strength: float
    low: float | None
    high: float | None
    days: int
    svg: str


@dataclass(frozen=True)
class Network:
    """Section 8: the network's shape."""

    number: int
    title: str
    figures: tuple[tuple[str, str], ...]
    charts: tuple[Chart, ...]
    strongest: tuple[Spark, ...]
    history_note: str


@dataclass(frozen=True)
class Block:
    """A titled group of label/value lines on a person's card."""

    title: str
    lines: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class TimelineRow:
    day: str
    channel: str
    direction: str
    shape: str  # one-to-one or group
    mode: str  # in person, video, or blank for mail
    note: str


@dataclass(frozen=True)
class PersonProfile:
    """One person, everything keepwarm knows of the relationship."""

    ref: PersonRef
    headline: str
    blocks: tuple[Block, ...]
    timeline: tuple[TimelineRow, ...]
    timeline_total: int  # interactions in all; `timeline` may hold only the latest


@dataclass(frozen=True)
class Digest:
    as_of: datetime
    sections: tuple[Section, ...]
    network: Network
    people: tuple[PersonProfile, ...] = field(default_factory=tuple)

    def linked_people(self) -> list[PersonRef]:
        """Everyone named in the lists, once each, in order of first mention."""
        seen: dict[str, PersonRef] = {}
        for section in self.sections:
            for item in _walk(section.items):
                for ref in item.people:
                    seen.setdefault(ref.person_id, ref)
        for spark in self.network.strongest:
            seen.setdefault(spark.person.person_id, spark.person)
        return list(seen.values())


def _walk(items: tuple[Item, ...]):
    for item in items:
        yield item
        yield from _walk(item.children)


# --- running the SQL ---------------------------------------------------------------------


def _rows(con: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any]) -> list[dict]:
    cursor = query_sql_file(con, OUTPUTS_SQL / f"{name}.sql", params)
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def prepare(con: duckdb.DuckDBPyConnection) -> None:
    """Point `history_snapshots` (a temporary view, so a read-only copy works too) at
    marts.status_history, or at an empty table of its shape before any history exists."""
    exists = con.execute(
        "select count(*) from duckdb_tables() where schema_name = 'marts' "
        "and table_name = 'status_history'").fetchone()[0]
    source = (
        "select snapshot_date, person_id, status, tie_strength, dunbar_layer, days_silent "
        "from marts.status_history" if exists else
        "select null::date as snapshot_date, null::varchar as person_id, "
        "null::varchar as status, null::double as tie_strength, "
        "null::integer as dunbar_layer, null::double as days_silent where false"
    )
    con.execute(f"create or replace temp view history_snapshots as {source}")


def as_of_of(con: duckdb.DuckDBPyConnection) -> datetime:
    """The moment the marts describe: the as-of time of the latest summaries build."""
    row = con.execute("select as_of from marts.contact_summary_builds "
                      "order by built_at desc limit 1").fetchone()
    if row is None:
        raise LookupError("the model has not been built yet: run `keepwarm run`")
    return row[0]


# --- words --------------------------------------------------------------------------------


def day_of(moment: datetime | date | None) -> str:
    if moment is None:
        return "never"
    return moment.strftime("%Y-%m-%d")


# How contact logged with `keepwarm log --how` happened, in words.
LOGGED_HOW = {"call": "a call", "in-person": "time in person", "other": "contact"}


def how_of(contact: dict | None) -> str:
    """An interaction in a few words: 'mail from them', 'one-to-one meeting in person'."""
    if not contact:
        return "no contact"
    if contact.get("logged_how"):
        return LOGGED_HOW[contact["logged_how"]] + " you logged"
    if contact["channel"] == "meeting":
        shape = "one-to-one" if contact["is_one_on_one"] else "group"
        mode = " in person" if contact["in_person"] else " on video" if contact["on_video"] else ""
        return f"{shape} meeting{mode}"
    if contact["direction"] == "copied":
        return "both on someone else's mail"
    group = " (group mail)" if (contact["n_participants"] or 1) > 1 else ""
    return ("mail from them" if contact["direction"] == "inbound" else "mail to them") + group


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _status_facts(facts: dict) -> str:
    if facts.get("status") is None:
        return "not a tie yet" if not facts.get("is_tie") else "tie"
    parts = [facts["status"]]
    if facts.get("dunbar_layer") is not None:
        parts.append(f"layer {facts['dunbar_layer']}")
    if facts.get("tie_strength") is not None:
        parts.append(f"strength {facts['tie_strength']:.0f}")
    return " · ".join(parts)


def _last_contact_line(facts: dict) -> str:
    contact = facts.get("last_contact")
    if not contact:
        return "no contact yet"
    return f"last contact {day_of(contact['at'])}, {how_of(contact)}"


def _in_person_line(facts: dict) -> str:
    return f"last met in person {day_of(facts.get('last_in_person_at'))}"


def _introduced_line(facts: dict) -> str | None:
    intro = facts.get("introduced_by")
    if not intro:
        return None
    return f"introduced by {intro['name']} on {day_of(intro['at'])}"


def _loop_lines(facts: dict) -> list[str]:
    words = {"you_owe_reply": "you owe a reply", "they_owe_reply": "they owe you a reply",
             "meeting_without_follow_up": "a meeting without follow-up"}
    return [f"open: {words.get(loop['loop'], loop['loop'])} since {day_of(loop['since'])}"
            for loop in facts.get("open_loops") or []]


# --- the digest ---------------------------------------------------------------------------


def build_digest(
    con: duckdb.DuckDBPyConnection, *, limit: int | None = 10,
    min_touchpoints: int = DEFAULT_MIN_TOUCHPOINTS, split_addresses: list[str] | None = None,
    job_change_days: float = DEFAULT_JOB_CHANGE_DAYS,
    dormant_after_days: float = DEFAULT_DORMANT_AFTER_DAYS,
) -> Digest:
    """The digest of the warehouse `con` as of its marts' as-of time.

    Args:
        con: the warehouse or its serving copy (read-only is enough).
        limit: entries per list before "and N more"; None for every one.
        min_touchpoints: status.min_touchpoints, the regular contact a dormant tie needs
            to be listed under Reconnect.
        split_addresses: identities.split, for matching calendar attendees to people.
        job_change_days: status.job_change_days, how far back New jobs reaches.
        dormant_after_days: status.dormant_after_days, the silence after which a tie is
            no longer kept up (Your network's month by month, as its headline counts).
    """
    prepare(con)
    as_of = as_of_of(con)
    params = {"as_of": as_of, "limit": limit, "min_touchpoints": min_touchpoints,
              "split_addresses": split_addresses or [],
              "dormant_after_days": dormant_after_days}

    replies = _rows(con, "digest_replies_owed", params)
    cold = _rows(con, "digest_going_cold", params)
    reconnect = _rows(con, "digest_reconnect", params)
    dates = _rows(con, "digest_key_dates", {**params, "days": KEY_DATE_DAYS})
    jobs = _rows(con, "digest_job_changes", {**params, "days": job_change_days})
    meetings = _rows(con, "digest_meetings", {**params, "days": MEETING_DAYS})
    intros = _rows(con, "digest_introductions", {**params, "days": INTRODUCTION_DAYS})

    wanted = {r["person_id"] for r in [*replies, *cold, *reconnect, *dates, *jobs]
              if r["person_id"]}
    wanted |= {p for m in meetings for p in m["attendee_ids"]}
    wanted |= {r[k] for r in intros for k in ("person_a_id", "person_b_id") if r[k]}
    facts = {f["person_id"]: f for f in _facts(con, sorted(wanted), params)}

    sections = (
        _replies_section(replies, facts),
        _cold_section(cold, facts),
        _reconnect_section(reconnect, facts),
        _dates_section(dates, facts),
        _jobs_section(jobs, facts, job_change_days),
        _meetings_section(meetings, facts),
        _introductions_section(intros),
    )
    network = _network(con, params)
    digest = Digest(as_of=as_of, sections=sections, network=network)
    profiles = person_profiles(con, [p.person_id for p in digest.linked_people()],
                               split_addresses=split_addresses, timeline_limit=CARD_TIMELINE,
                               _prepared=True)
    return Digest(as_of=as_of, sections=sections, network=network, people=tuple(profiles))


def _facts(con, people: list[str], params: dict[str, Any]) -> list[dict]:
    if not people:
        return []
    return _rows(con, "person_facts", {**params, "people": people})


def _ref(row: dict, id_key: str = "person_id", name_key: str = "display_name") -> PersonRef:
    return PersonRef(row[id_key], row[name_key] or row[id_key])


def _total(rows: list[dict]) -> int:
    return rows[0]["total"] if rows else 0


def _replies_section(rows: list[dict], facts: dict[str, dict]) -> Section:
    items = tuple(
        Item(
            people=(_ref(r),),
            facts=f"{_waiting(r)} · {_status_facts(facts[r['person_id']])}",
            reason=f"they wrote on {_days_listed(r['waiting_since'])} and have not had an "
                   "answer",
            next_step=r["next_step"],
            details=(_last_contact_line(facts[r["person_id"]]),),
        )
        for r in rows
    )
    people = _total(rows)
    messages = rows[0]["messages"] if rows else 0
    return Section(1, "replies", "Replies you owe",
                   "People whose messages you have not answered (past "
                   "loops.reply_grace_days), the longest waiting first.",
                   people, items, summary=f"{messages} messages" if messages != people else "",
                   empty="You owe nobody a reply.")


def _waiting(row: dict) -> str:
    waiting = len(row["waiting_since"])
    if waiting == 1:
        return f"waiting {row['days_open']} days"
    return f"{waiting} messages waiting, the oldest {row['days_open']} days"


def _days_listed(moments: list, shown: int = 3) -> str:
    """'2026-09-20', '2026-09-20 and 2026-10-23', '..., ... and 1 more day'."""
    days = list(dict.fromkeys(day_of(moment) for moment in moments))
    if len(days) > shown:
        return f"{', '.join(days[:shown])} and {_plural(len(days) - shown, 'more day')}"
    if len(days) == 1:
        return days[0]
    return f"{', '.join(days[:-1])} and {days[-1]}"


def _cold_section(rows: list[dict], facts: dict[str, dict]) -> Section:
    total = _total(rows)
    cold = rows[0]["cold"] if rows else 0
    items = tuple(
        Item(people=(_ref(r),), facts=_status_facts(facts[r["person_id"]]),
             reason=r["reason"], next_step=r["next_step"],
             details=(_last_contact_line(facts[r["person_id"]]),))
        for r in rows
    )
    return Section(2, "cold", "Going cold",
                   "Ties silent for longer than their own rhythm allows: cold first, then "
                   "cooling, by attention rank.",
                   total, items, summary=f"{cold} cold, {total - cold} cooling",
                   empty="No tie is going cold.")


def _reconnect_section(rows: list[dict], facts: dict[str, dict]) -> Section:
    items = []
    for r in rows:
        f = facts[r["person_id"]]
        peak = f"peak: layer {r['peak_layer']}, " if r["peak_layer"] is not None else "peak: "
        items.append(Item(
            people=(_ref(r),),
            facts=f"{peak}strength {r['peak_strength']:.0f}",
            reason=r["reason"],
            next_step=r["next_step"],
            details=(_last_contact_line(f), _in_person_line(f)),
        ))
    return Section(3, "reconnect", "Reconnect",
                   "Dormant ties that were regular contacts, strongest at their peak first.",
                   _total(rows), tuple(items), empty="No dormant tie to revive.")


def _dates_section(rows: list[dict], facts: dict[str, dict]) -> Section:
    items = []
    for r in rows:
        when = r["day"].strftime("%a %Y-%m-%d")
        person = facts.get(r["person_id"]) if r["person_id"] else None
        if r["kind"] == "birthday":
            what = "birthday" + (f" ({r['years']})" if r["years"] else "")
            next_step = "wish them a happy birthday"
        elif r["kind"] == "first_contact":
            years = _plural(r["years"], "year")
            what = f"{years} since your first contact"
            next_step = f"a note to mark {years} of knowing each other"
        else:
            what = r["kind"] + (f" ({_plural(r['years'], 'year')})" if r["years"] else "")
            next_step = f"a note for their {r['kind']}"
        people = (PersonRef(r["person_id"], r["name"] or r["person_id"]),) \
            if r["person_id"] else ()
        label = when if people else f"{when}: {r['name'] or 'a birthday'}"
        if not people and not r["name"]:
            what = "birthday (whose is not stored: turn store_subjects on to keep titles)"
        items.append(Item(
            people=people, label=when if people else label, facts=what,
            reason=_status_facts(person) if person else "",
            next_step=next_step if people or r["name"] else "",
            details=(_last_contact_line(person),) if person else (),
        ))
    return Section(4, "coming_up", "Coming up",
                   f"Birthdays and other dates from your address book and birthday "
                   f"calendar, and anniversaries of first contact with inner-layer ties, "
                   f"in the next {KEY_DATE_DAYS} days.",
                   _total(rows), tuple(items), empty="No key dates in the next two weeks.")


def _role(organization: str | None, title: str | None) -> str:
    if organization and title:
        return f"{title} at {organization}"
    return organization or title or "?"


def _jobs_section(rows: list[dict], facts: dict[str, dict], days: float) -> Section:
    items = []
    for r in rows:
        person = facts[r["person_id"]]
        if r["source"] == "mail":
            what = f"mail now from {r['to_organization']}, before {r['from_organization']}"
        else:
            what = (f"now {_role(r['to_organization'], r['to_title'])}, before "
                    f"{_role(r['from_organization'], r['from_title'])}")
        step = r["next_step"] or ""
        items.append(Item(
            people=(_ref(r),), facts=what,
            reason=f"seen {day_of(r['first_seen_at'])} · {_status_facts(person)}",
            next_step=step if step.startswith("congratulate") else (
                "" if step == "nothing needed" else step),
            details=(_last_contact_line(person),),
        ))
    return Section(5, "new_jobs", "New jobs",
                   f"People whose organisation or title changed in your address book, or "
                   f"whose mail comes from a new domain, in the last {days:g} days; newest "
                   "first.",
                   _total(rows), tuple(items), empty="No job changes seen lately.")


def _meetings_section(rows: list[dict], facts: dict[str, dict]) -> Section:
    items = []
    for m in rows:
        mode = "in person" if m["in_person"] else "video" if m["on_video"] else "meeting"
        attendees = []
        for person_id in m["attendee_ids"]:
            f = facts[person_id]
            details = [_last_contact_line(f), _in_person_line(f), *_loop_lines(f)]
            introduced = _introduced_line(f)
            if introduced:
                details.append(introduced)
            loops = f.get("open_loops") or []
            attendees.append(Item(
                people=(PersonRef(person_id, f["display_name"]),),
                facts=_status_facts(f),
                reason=f["reason"] or "first meeting: no history together yet",
                next_step=loops[0]["next_step"] if loops else (
                    f["next_step"] if f["next_step"] and f["next_step"] != "nothing needed"
                    else ""),
                details=tuple(details),
            ))
        title = f" · {m['title']}" if m["title"] else ""
        # An invitation without an end has no length to show.
        length = f"{m['minutes']:.0f} min · " if m["minutes"] is not None else ""
        items.append(Item(
            label=f"{m['starts_at'].strftime('%a %Y-%m-%d %H:%M')} UTC · {length}{mode}{title}",
            facts=_plural(len(attendees), "other attendee"),
            children=tuple(attendees),
        ))
    return Section(6, "meetings", "Before your meetings",
                   f"Meetings today and in the next {MEETING_DAYS} days, with where you stand "
                   "with each attendee.",
                   _total(rows), tuple(items), empty="No meetings in the coming week.")


def _introductions_section(rows: list[dict]) -> Section:
    items = []
    for r in rows:
        when = day_of(r["introduced_at"])
        if r["kind"] == "made":
            a, b = _ref(r, "person_a_id", "person_a_name"), _ref(r, "person_b_id", "person_b_name")
            items.append(Item(
                people=(a, b), facts=f"you introduced them on {when}",
                reason="no message or meeting between them since",
                next_step=f"ask {a.name} whether they and {b.name} connected"))
        else:
            b = _ref(r, "person_b_id", "person_b_name")
            items.append(Item(
                people=(b,), facts=f"introduced to you by {r['introducer_name']} on {when}",
                reason=("you have not written or met since" if not r["follow_ups"] else
                        f"{_plural(r['follow_ups'], 'message or meeting')} since, "
                        "not yet a two-way tie"),
                next_step=f"write to {b.name}, mentioning {r['introducer_name']}"))
    return Section(7, "introductions", "Introductions not yet taken",
                   f"Introductions of the last {INTRODUCTION_DAYS} days: ones you made whose two "
                   "people have not been in touch since, referrals you received that have not "
                   "become a tie. Newest first.",
                   _total(rows), tuple(items), empty="Every recent introduction took.")


def _network(con, params: dict[str, Any]) -> Network:
    (summary,) = _rows(con, "digest_network", params)
    months = list(reversed(_rows(con, "digest_ties_by_month", params)))
    strongest = _rows(con, "digest_strongest_ties", params)
    balance = summary["reciprocity_balance"] or 0.0
    leaning = ("you give more than you get" if balance > 0.05 else
               "they give more than you do" if balance < -0.05 else "even")
    figures = (
        ("ties kept up", f"{summary['active_ties']} of ~{summary['dunbar_limit']} "
                         f"({summary['over_limit']:+d})"),
        ("statuses", f"{summary['active']} active, {summary['new']} new, "
                     f"{summary['cooling']} cooling, {summary['cold']} cold, "
                     f"{summary['dormant']} dormant"),
        ("last 30 days", f"{summary['new_ties_30d']} ties gained, "
                         f"{summary['lost_ties_30d']} lost"),
        # Sums over no tie at all are null: a network with nobody in it sent nothing.
        ("give and take", f"{summary['messages_sent'] or 0} messages sent, "
                          f"{summary['messages_received'] or 0} received: balance "
                          f"{balance:+.2f} ({leaning})"),
        ("threads you open", _share(summary["initiation_share"])),
    )
    # Cumulative layers (5 within 15 within 50 ...) as rings: the strongest 5, the next 10...
    rings, inner = [], 0
    for name in ("5", "15", "50", "150"):
        within = summary[f"layer_{name}"] or 0
        rings.append((f"layer {name}", within - inner, summary[f"layer_{name}_mean_strength"]))
        inner = within
    beyond = max(summary["active_ties"] - inner, 0)
    layer_chart = Chart(
        "Dunbar layers",
        f"Active ties ring by ring, strongest first: {summary['active_ties']} against the "
        f"~{summary['dunbar_limit']} people can keep up.",
        charts.layers_svg([*((label, n) for label, n, _ in rings), ("beyond 150", beyond)],
                          summary["dunbar_limit"]),
        ("layer", "ties", "mean strength"),
        (*((label, str(n), "-" if mean is None else f"{mean:.0f}") for label, n, mean in rings),
         ("beyond 150", str(beyond), "-")),
    )
    month_chart = Chart(
        "Ties gained and lost",
        "Per month, comparing each month's last snapshot with the month before's."
        if months else "Needs two months of marts.status_history.",
        charts.months_svg([(m["month"], m["gained"], m["lost"]) for m in months]),
        ("month", "gained", "lost", "kept up"),
        tuple((m["month"].strftime("%Y-%m"), str(m["gained"]), str(m["lost"]), str(m["kept"]))
              for m in months),
    )
    sparks = tuple(
        Spark(
            person=_ref(s), layer=s["dunbar_layer"], strength=s["tie_strength"],
            low=min(s["strengths"]) if s["strengths"] else None,
            high=max(s["strengths"]) if s["strengths"] else None,
            days=len(s["days"]),
            svg=charts.sparkline_svg(s["days"], s["strengths"]),
        )
        for s in strongest
    )
    days = summary["history_days"]
    note = (f"Trends from {days} daily snapshots since {day_of(summary['history_from'])}."
            if days else "No daily snapshots yet (marts.status_history is empty).")
    return Network(8, "Your network", figures, (layer_chart, month_chart), sparks, note)


# --- one person ---------------------------------------------------------------------------


def person_profiles(
    con: duckdb.DuckDBPyConnection, people: list[str], *,
    split_addresses: list[str] | None = None, timeline_limit: int | None = None,
    _prepared: bool = False,
) -> list[PersonProfile]:
    """Profiles of `people` (person ids), in that order, with every interaction or, with
    `timeline_limit`, each one's latest that many."""
    if not people:
        return []
    if not _prepared:
        prepare(con)
    as_of = as_of_of(con)
    params = {"as_of": as_of, "people": people, "split_addresses": split_addresses or []}
    facts = {f["person_id"]: f for f in _rows(con, "person_facts", params)}
    timelines: dict[str, list[TimelineRow]] = {p: [] for p in people}
    totals: dict[str, int] = dict.fromkeys(people, 0)
    for r in _rows(con, "person_timeline", {**params, "timeline_limit": timeline_limit}):
        timelines[r["person_id"]].append(_timeline_row(r, as_of))
        totals[r["person_id"]] = r["total"]
    intros: dict[str, list[tuple[str, str]]] = {p: [] for p in people}
    for r in _rows(con, "person_introductions", params):
        for person_id in r["involved"]:
            intros[person_id].append(_introduction_line(r, person_id))
    return [_profile(facts[p], timelines[p], totals[p], intros[p]) for p in people]


def _timeline_row(r: dict, as_of: datetime) -> TimelineRow:
    if r["logged_how"]:
        # Told to keepwarm, not read from mail or a calendar: say how it happened.
        minutes = r["duration_minutes"]
        return TimelineRow(day_of(r["occurred_at"]), "logged", LOGGED_HOW[r["logged_how"]]
                           + (f", {minutes:.0f} min" if minutes else ""), "one-to-one",
                           "in person" if r["in_person"] else "",
                           f"not counted: {r['noise_reason']}" if r["noise_reason"] else "")
    if (r["noise_reason"] or "").startswith("not a meeting"):
        # A birthday, focus time, an all-day entry: on the calendar, not time together.
        shape = mode = direction = ""
    elif r["channel"] == "meeting":
        shape = "one-to-one" if r["is_one_on_one"] else "group"
        mode = "in person" if r["in_person"] else "video" if r["on_video"] else ""
        direction = f"{r['duration_minutes']:.0f} min" if r["duration_minutes"] else ""
    else:
        shape = "group" if r["direction"] == "copied" or (r["n_participants"] or 1) > 1 \
            else "one-to-one"
        mode = ""
        direction = {"inbound": "from them", "outbound": "to them",
                     "copied": "both copied"}.get(r["direction"], r["direction"])
        if r["is_reply"]:
            direction += ", a reply"
    notes = []
    if r["occurred_at"] > as_of:
        notes.append("upcoming")
    if r["noise_reason"]:
        notes.append(f"not counted: {r['noise_reason']}")
    return TimelineRow(day_of(r["occurred_at"]), r["channel"], direction, shape, mode,
                       "; ".join(notes))


def _introduction_line(r: dict, person_id: str) -> tuple[str, str]:
    """(the day, what happened) for one introduction `person_id` took part in."""
    when = day_of(r["introduced_at"])
    if r["kind"] == "received":
        if r["introducer_id"] == person_id:
            outcome = "became a tie" if r["became_tie"] else "not a tie yet"
            return when, f"introduced you to {r['person_b_name']} ({outcome})"
        outcome = "became a tie" if r["became_tie"] else "not a tie yet"
        return when, f"introduced to you by {r['introducer_name']} ({outcome})"
    other = r["person_b_name"] if r["person_a_id"] == person_id else r["person_a_name"]
    outcome = (f"in touch since ({_plural(r['follow_ups'], 'message or meeting')})"
               if r["followed_up"] else "not in touch since")
    return when, f"you introduced them to {other} ({outcome})"


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _number(value: float | None, unit: str = "", digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _thresholds(f: dict) -> tuple[tuple[str, str], ...]:
    """The silences at which their rhythm turns the tie cooling and cold; a cadence the
    user set replaces both (the status then follows it), so they are not shown then."""
    if f["cadence_days"] is not None:
        return (("cooling, cold", "when your cadence says (above)"),)
    return (("cooling after", _number(f["cooling_after_days"], " days of silence")),
            ("cold after", _number(f["cold_after_days"], " days of silence")))


def _why_no_tie(f: dict, timeline: list[TimelineRow]) -> str:
    """Why someone with interactions is not a tie (marts.contact_metrics.is_tie: a message
    each way, or a meeting, among what counts), in the words of its cause."""
    sent, received = f["messages_sent"] or 0, f["messages_received"] or 0
    if f["is_tie"] or not timeline:
        return "-"
    if not (sent or received or f["meetings"]):
        reasons = Counter(note.split("not counted: ", 1)[1] for row in timeline
                          if "not counted: " in (note := row.note))
        if not reasons:
            return "-"
        return f"nothing with them counts: {reasons.most_common(1)[0][0]}"
    one_way = "only they have written" if received else "only you have written"
    return f"{one_way}: a tie needs a message each way, or a meeting"


def _profile(f: dict, timeline: list[TimelineRow], total: int,
             intros: list[tuple[str, str]]) -> PersonProfile:
    ref = PersonRef(f["person_id"], f["display_name"])
    headline = _status_facts(f)
    blocks = [
        Block("Who", (
            ("addresses", ", ".join(f["addresses"])),
            ("layer", "-" if f["dunbar_layer"] is None else
             f"{f['dunbar_layer']} (strength rank {f['strength_rank']})"),
            ("labels", ", ".join(f["labels"]) or "-"),
        )),
        Block("Where you stand", (
            ("status", f["status"] or ("not a tie yet" if not f["is_tie"] else "-")),
            ("why", f["reason"] or _why_no_tie(f, timeline)),
            ("next", f["next_step"] or "-"),
            ("cadence you set", "-" if f["cadence_days"] is None
             else f"every {f['cadence_days']} days"),
        )),
        Block("Tie strength", (
            ("strength", _number(f["tie_strength"], digits=1) + " of 100"),
            ("frequency", _score(f["frequency_score"])),
            ("recency", _score(f["recency_score"])),
            ("reciprocity", _score(f["reciprocity_score"])),
            ("face time", _score(f["face_time_score"])),
            ("tenure", _score(f["tenure_score"])),
        )),
        Block("Rhythm", (
            ("usual gap", _number(f["usual_gap_days"], " days")),
            *_thresholds(f),
            ("touchpoints", _number(f["touchpoints"])),
            ("silent for", _number(f["days_silent"], " days")),
        )),
        Block("Give and take", (
            ("messages", f"{f['messages_sent'] or 0} sent, {f['messages_received'] or 0} "
                         f"received (balance {_score(f['reciprocity_balance'])})"),
            ("threads you opened", f"{_share(f['initiation_share'])} of {f['threads'] or 0}"),
            ("they answer", f"{_share(f['their_reply_rate'])} of yours, median "
                            f"{_number(f['their_median_reply_hours'], ' h', 1)}"),
            ("you answer", f"{_share(f['your_reply_rate'])} of theirs, median "
                           f"{_number(f['your_median_reply_hours'], ' h', 1)}"),
            ("unanswered in a row", f"{f['unanswered_outbound_streak'] or 0} of yours, "
                                    f"{f['unanswered_inbound_streak'] or 0} of theirs"),
            ("meetings", f"{f['meetings'] or 0} ({f['meetings_one_on_one'] or 0} one-to-one, "
                         f"{f['meetings_in_person'] or 0} in person, "
                         f"{f['meetings_video'] or 0} on video, "
                         f"{_number(f['meeting_hours'], ' h', 1)})"),
        )),
        Block("Open loops", tuple(
            (day_of(loop["since"]), loop["next_step"]) for loop in f["open_loops"]
        ) or (("-", "nothing open"),)),
        Block("Introductions", tuple(intros) or (("-", "none"),)),
        Block("Key dates", (
            ("first contact", day_of(f["first_contact_at"])),
            ("last contact", _last_contact_line(f).removeprefix("last contact ")
             if f["last_contact"] else "never"),
            ("last met in person", day_of(f["last_in_person_at"])),
            ("next birthday", day_of(f["next_birthday"]) if f["next_birthday"] else "unknown"),
            ("introduced by", (_introduced_line(f) or "-").removeprefix("introduced by ")),
            ("peak in the history", "-" if f["peak_strength"] is None else
             f"strength {f['peak_strength']:.0f}"
             + ("" if f["peak_layer"] is None else f", layer {f['peak_layer']}")),
        )),
    ]
    return PersonProfile(ref, headline, tuple(blocks), tuple(timeline), total)
