"""What the user tells keepwarm about a person: `keepwarm log`, `snooze`, `ignore`, `cadence`.

Each command appends one row to raw.actions, the table the user owns: no load or build
ever rewrites it, and an `--undo` is a row of its own, so the table keeps the whole
history of what was said. core.actions works out what is in force, and the model honours
it: a logged contact is an interaction, an ignored person is never a tie, a snooze keeps
a tie off the going-cold lists, a cadence sets the rhythm status is judged by.

After recording, the command rebuilds the model (incrementally: the change touches one
person) and republishes the serving copy, so `keepwarm cold` shows the effect at once;
`rebuild=False` leaves it to the next run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb

from engine.config import KeepwarmConfig
from engine.locks import LockTimeoutError
from engine.people import find_people
from engine.warehouse import Warehouse, fetch_one

HOWS = ("call", "in-person", "other")
# Face time a contact logged in person counts for, unless the user says how long.
DEFAULT_IN_PERSON_MINUTES = 60.0
# How long a command waits for a run that is writing the warehouse.
DEFAULT_WAIT_S = 60.0
# Candidates listed when a query matches several people.
MAX_CANDIDATES = 10


class ActionError(ValueError):
    """A mistake in an action command (an unknown person, a date in the future, nothing
    to undo): one line for the user, exit status 2."""


@dataclass(frozen=True)
class Person:
    """Whom a query resolved to."""

    person_id: str
    display_name: str
    # The address typed, normalised, else the person's main address: what raw.actions keeps.
    address: str

    def __str__(self) -> str:
        return f"{self.display_name} <{self.person_id}>"


@dataclass(frozen=True)
class Action:
    """One command's arguments, checked, as they go into raw.actions."""

    kind: str
    undo: bool = False
    occurred_on: date | None = None
    how: str | None = None
    minutes: float | None = None
    note: str | None = None
    snoozed_until: date | None = None
    days: float | None = None


@dataclass(frozen=True)
class Recorded:
    """A row written to raw.actions, and what followed."""

    action_id: int
    recorded_at: datetime
    person: Person
    action: Action
    undoes: int | None = None
    rebuild_seconds: float | None = None
    # The person's place afterwards: (status, days silent, snoozed until), or None when
    # they are not a tie.
    status: tuple[str, float, date | None] | None = None


def resolve_person(
    con: duckdb.DuckDBPyConnection, query: str, split_addresses: list[str]
) -> Person:
    """The one person `query` names, found as `keepwarm person` finds them
    (engine/people.py); several matches are listed for the user to choose from."""
    query = query.strip()
    if not query:
        raise ActionError("name someone: a name or an address")
    if "@" in query:
        found = fetch_one(con, """
            select i.person_id, p.display_name, i.address, i.is_self
            from core.identities i
            left join core.people p using (person_id)
            where i.address = normalize_address($query, keep := $split)""",
            {"query": query, "split": split_addresses})
        if found and found[3]:
            raise ActionError(f"{query} is one of your own addresses (me.addresses)")
        if found:
            return Person(found[0], found[1], found[2])
    matches = find_people(con, query, split_addresses)
    if not matches:
        raise ActionError(f"nobody in your mail or calendar matches {query!r}: try part of "
                          "their name or an address (`keepwarm sql \"select display_name, "
                          "addresses from core.people\"` lists them)")
    if len(matches) == 1:
        return Person(matches[0].person_id, matches[0].name, matches[0].address)
    shown = "\n".join(f"  {m.name} <{m.address}>" for m in matches[:MAX_CANDIDATES])
    more = (f"\n  and {len(matches) - MAX_CANDIDATES} more"
            if len(matches) > MAX_CANDIDATES else "")
    raise ActionError(f"{query!r} matches {len(matches)} people; name one by address:\n"
                      f"{shown}{more}")


def check_log(occurred_on: date | None, how: str, minutes: float | None, today: date,
              *, undo: bool = False) -> Action:
    """`keepwarm log`'s arguments as an Action, or the user's mistake."""
    if how not in HOWS:
        raise ActionError(f"--how must be one of {', '.join(HOWS)}, not {how!r}")
    if undo:
        return Action("log", undo=True, occurred_on=occurred_on)
    occurred_on = occurred_on or today
    if occurred_on > today:
        raise ActionError(f"--date {occurred_on} is in the future: log contact that "
                          "happened (snooze or cadence plan ahead)")
    if minutes is not None and how != "in-person":
        raise ActionError("--minutes is face time, for --how in-person only")
    if minutes is not None and minutes <= 0:
        raise ActionError(f"--minutes must be positive, not {minutes:g}")
    if how == "in-person":
        minutes = minutes or DEFAULT_IN_PERSON_MINUTES
    return Action("log", occurred_on=occurred_on, how=how, minutes=minutes)


def check_snooze(until: date | None, days: float | None, today: date, *,
                 undo: bool = False) -> Action:
    """`keepwarm snooze`'s arguments as an Action, or the user's mistake."""
    if undo:
        if until or days:
            raise ActionError("--undo ends the snooze: give it without --until or --days")
        return Action("snooze", undo=True)
    if (until is None) == (days is None):
        raise ActionError("say how long: --until DATE or --days N (one of them)")
    if days is not None:
        if days <= 0 or days != int(days):
            raise ActionError(f"--days must be a whole number of days above 0, not {days:g}")
        until = today + timedelta(days=int(days))
    if until <= today:
        raise ActionError(f"--until {until} is not after today ({today}): nothing to snooze")
    return Action("snooze", snoozed_until=until, days=days)


def check_cadence(days: float | None, *, undo: bool = False) -> Action:
    """`keepwarm cadence`'s arguments as an Action, or the user's mistake."""
    if undo:
        if days is not None:
            raise ActionError("--undo clears the cadence: give it without DAYS")
        return Action("cadence", undo=True)
    if days is None:
        raise ActionError("say every how many days: keepwarm cadence QUERY DAYS")
    if days <= 0:
        raise ActionError(f"DAYS must be above 0, not {days:g}")
    return Action("cadence", days=days)


def record(
    con: duckdb.DuckDBPyConnection, config: KeepwarmConfig, query: str, action: Action,
    *, note: str | None = None,
) -> Recorded:
    """Resolve `query` and append `action` to raw.actions; an undo must have something
    in force to undo. `note` is the user's text for a log: it is stored, never logged."""
    from assets.tables import build_table  # Dagster loads slowly: only when writing

    params = config.model_params()
    person = resolve_person(con, query, params["split_addresses"])
    # What is in force now, by the one rule that decides it (core/actions.sql).
    build_table(con, "core", "actions", params)
    undoes = None
    if action.undo:
        undoes = _in_force(con, person, action)
    row = fetch_one(con, """
        insert into raw.actions (action_id, recorded_at, kind, undo, undoes, query, address,
                                 person_id, occurred_on, how, minutes, note, snoozed_until, days)
        select coalesce(max(action_id), 0) + 1, now(), $kind, $undo, $undoes, $query,
               $address, $person_id, $occurred_on, $how, $minutes, $note, $snoozed_until, $days
        from raw.actions
        returning action_id, recorded_at""", {
        "kind": action.kind, "undo": action.undo, "undoes": undoes, "query": query,
        "address": person.address, "person_id": person.person_id,
        "occurred_on": None if action.undo else action.occurred_on,
        "how": None if action.undo else action.how, "minutes": action.minutes,
        "note": note if action.kind == "log" and not action.undo else None,
        "snoozed_until": action.snoozed_until, "days": action.days,
    })
    return Recorded(row[0], row[1], person, action, undoes)


def _in_force(con: duckdb.DuckDBPyConnection, person: Person, action: Action) -> int:
    """The action_id an undo withdraws, or the user's mistake when nothing stands."""
    if action.kind == "log":
        found = fetch_one(con, """
            select action_id from core.actions
            join raw.actions logged using (action_id)
            where core.actions.kind = 'log' and core.actions.person_id = $person_id
              and ($on::date is null or logged.occurred_on = $on::date)
            order by core.actions.occurred_at desc, action_id desc
            limit 1""", {"person_id": person.person_id, "on": action.occurred_on})
        if not found:
            when = f" on {action.occurred_on}" if action.occurred_on else ""
            raise ActionError(f"no logged contact with {person}{when} to undo")
        return found[0]
    found = fetch_one(con, "select action_id from core.actions "
                           "where kind = $kind and person_id = $person_id",
                      {"kind": action.kind, "person_id": person.person_id})
    if not found:
        state = {"snooze": "snoozed", "ignore": "ignored",
                 "cadence": "given a cadence with `keepwarm cadence`"}[action.kind]
        raise ActionError(f"{person} is not {state}: nothing to undo")
    return found[0]


def rebuild_and_publish(
    con: duckdb.DuckDBPyConnection, config: KeepwarmConfig, warehouse: Warehouse
) -> float:
    """Rebuild the model as a run would after syncing (incrementally) and swap in a new
    serving copy; the seconds it took."""
    from assets.tables import MODEL_TABLES, build_table
    from engine.serving import publish_serving_copy

    started = time.perf_counter()
    params = config.model_params()
    for schema, table in MODEL_TABLES:
        build_table(con, schema, table, params, memory_cap=warehouse.memory_limit)
    publish_serving_copy(con, warehouse.serving_file())
    return time.perf_counter() - started


def act(
    config: KeepwarmConfig, query: str, action: Action, *, note: str | None = None,
    rebuild: bool = True, wait_s: float = DEFAULT_WAIT_S,
) -> Recorded:
    """Record `action` on the person `query` names in the warehouse, then (by default)
    rebuild and republish so that it shows at once."""
    path = Path(config.warehouse.path)
    if not path.exists():
        raise ActionError(f"no warehouse at {path}: run `keepwarm run` first")
    warehouse = Warehouse(path=str(path), serving_path=config.warehouse.serving_path,
                          memory_limit=config.warehouse.memory_limit, writer_wait_s=wait_s)
    try:
        with warehouse.connect() as con:
            if not fetch_one(con, "select count(*) from duckdb_tables() "
                                  "where schema_name = 'core' and table_name = 'people'")[0]:
                raise ActionError(f"{path} has no model yet: run `keepwarm run` first")
            recorded = record(con, config, query, action, note=note)
            if not rebuild:
                return recorded
            seconds = rebuild_and_publish(con, config, warehouse)
            return replace(recorded, rebuild_seconds=seconds,
                           status=_status(con, recorded.person.person_id))
    except LockTimeoutError as exc:
        raise ActionError(
            f"a keepwarm run is writing the warehouse {path} and still was after "
            f"{wait_s:g} s; nothing was recorded. Try again when it finishes (or wait "
            "longer with --wait SECONDS)") from exc


def _status(con: duckdb.DuckDBPyConnection, person_id: str):
    # Whole days silent as the reason states them (SQL's round, half away from zero).
    return fetch_one(con, "select status, round(days_silent)::int, snoozed_until "
                          "from marts.relationship_status where person_id = $person_id",
                     {"person_id": person_id})


def describe(recorded: Recorded) -> str:
    """What was recorded, and when it takes effect, in a few lines for the terminal."""
    a, who = recorded.action, recorded.person
    if a.undo:
        what = {"log": f"withdrew the contact logged with {who} (#{recorded.undoes})",
                "snooze": f"ended the snooze of {who}",
                "ignore": f"{who} counts again: no longer ignored",
                "cadence": f"cleared the cadence you set for {who} (status.cadence in "
                           "keepwarm.yaml applies again, if it names them)"}[a.kind]
    elif a.kind == "log":
        # Only contact in person carries minutes (check_log): a call's are None.
        how = (f"{a.minutes:g} minutes in person" if a.how == "in-person"
               else {"call": "a call", "other": "contact"}[a.how])
        what = f"{how} with {who} on {a.occurred_on}"
    elif a.kind == "snooze":
        what = f"{who} snoozed: off the going-cold lists until {a.snoozed_until}"
    elif a.kind == "ignore":
        what = f"{who} ignored: not a relationship, never a tie"
    else:
        what = f"contact with {who} every {a.days:g} days (this wins over status.cadence)"
    lines = [f"Recorded #{recorded.action_id} at {recorded.recorded_at:%Y-%m-%d %H:%M %Z}: "
             f"{what}."]
    if recorded.rebuild_seconds is None:
        lines.append("It takes effect at the next run (`keepwarm run`, or the nightly refresh).")
        return "\n".join(lines)
    lines.append(f"In effect now: the model was rebuilt and the serving copy republished in "
                 f"{recorded.rebuild_seconds:.1f} s.")
    if recorded.status is None:
        lines.append(f"{who.display_name} is not a tie.")
    else:
        status, silent, snoozed = recorded.status
        hidden = f", snoozed until {snoozed}" if snoozed else ""
        days = "1 day" if silent == 1 else f"{silent} days"
        lines.append(f"{who.display_name}: {status}, silent {days}{hidden}.")
    return "\n".join(lines)
