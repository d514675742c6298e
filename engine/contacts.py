"""Address-book contacts into raw.contacts (one row per version) and raw.contact_groups.

A contact read again with the same stored values adds nothing; any change of the stored
values (a new organisation, title, address, birthday, label) adds the next version, so
the history of a contact's jobs stays in the table. A deletion adds a version marked
`deleted`. Everything of one batch (versions, deletions, groups, quarantine and the
cursor) commits in one transaction, so a sync killed between batches resumes exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb

from connectors.contacts import ContactGroupRecord, ContactRecord
from connectors.records import Cursor, QuarantineRecord
from engine.warehouse import save_cursor

_LATEST = """
select contact_key, version, deleted, display_name, emails, organization, title, birthday,
       events, groups
from raw.contacts
where account = $account and source = $source
qualify row_number() over (partition by contact_key order by version desc) = 1
"""
_INSERT = """
insert into raw.contacts (account, source, contact_key, etag, version, deleted,
    display_name, emails, organization, title, birthday, events, groups, seen_at)
values ($account, $source, $contact_key, $etag, $version, $deleted, $display_name,
    $emails, $organization, $title, $birthday, $events, $groups, $seen_at)
"""


@dataclass
class ContactLoad:
    """What one `apply_contacts` call changed."""

    versions: int = 0
    unchanged: int = 0
    deleted: int = 0
    groups: int = 0
    quarantined: int = 0
    changed_keys: list[str] = field(default_factory=list)


def _values(record: ContactRecord) -> tuple:
    return (
        False,
        record.display_name,
        list(record.emails),
        record.organization,
        record.title,
        record.birthday,
        [{"kind": k, "date": d} for k, d in record.events],
        list(record.groups),
    )


def apply_contacts(
    con: duckdb.DuckDBPyConnection,
    account: str,
    source: str,
    contacts: Sequence[ContactRecord],
    *,
    deleted_keys: Iterable[str] = (),
    groups: Sequence[ContactGroupRecord] | None = None,
    quarantine: Sequence[QuarantineRecord] = (),
    cursor: Cursor | None = None,
    now: datetime | None = None,
) -> ContactLoad:
    """Store one batch of contacts of (account, source) atomically (see module doc)."""
    now = now or datetime.now(UTC)
    load = ContactLoad()
    con.begin()
    try:
        latest = {
            row[0]: (row[1], (row[2], *row[3:]))
            for row in con.execute(_LATEST, {"account": account, "source": source}).fetchall()
        }
        rows = []
        for record in contacts:
            values = _values(record)
            version, stored = latest.get(record.contact_key, (0, None))
            if stored is not None and _same(stored, values):
                load.unchanged += 1
                continue
            latest[record.contact_key] = (version + 1, values)
            rows.append(
                _row(account, source, record.contact_key, record.etag, version + 1, values, now)
            )
            load.changed_keys.append(record.contact_key)
        for key in deleted_keys:
            version, stored = latest.get(key, (0, None))
            if stored is None or stored[0]:
                continue  # never stored, or already deleted
            values = (True, None, [], None, None, None, [], [])
            latest[key] = (version + 1, values)
            rows.append(_row(account, source, key, None, version + 1, values, now))
            load.deleted += 1
        load.versions = len(rows) - load.deleted
        if rows:
            con.executemany(_INSERT, rows)
        if groups is not None:
            con.execute(
                "delete from raw.contact_groups where account = $account and source = $source",
                {"account": account, "source": source},
            )
            group_rows = [
                {
                    "account": account,
                    "source": source,
                    "group_key": g.group_key,
                    "name": g.name,
                    "group_type": g.group_type,
                    "at": now,
                }
                for g in groups
            ]
            if group_rows:
                con.executemany(
                    "insert into raw.contact_groups (account, source, group_key, name, "
                    "group_type, loaded_at) "
                    "values ($account, $source, $group_key, $name, $group_type, $at)",
                    group_rows,
                )
            load.groups = len(groups)
        for q in quarantine:
            con.execute(
                "insert into raw.quarantine (source, account, kind, locator, reason, excerpt) "
                "select $source, $account, $kind, $locator, $reason, $excerpt "
                "where not exists (select 1 from raw.quarantine where source = $source "
                "and account = $account and locator = $locator)",
                {
                    "source": q.source,
                    "account": q.account,
                    "kind": q.kind,
                    "locator": q.locator,
                    "reason": q.reason,
                    "excerpt": q.excerpt,
                },
            )
            load.quarantined += 1
        if cursor is not None:
            save_cursor(con, cursor.account, cursor.source, cursor.stream, cursor.value)
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return load


def _same(stored: tuple, values: tuple) -> bool:
    deleted, name, emails, org, title, birthday, events, groups = stored
    return (
        deleted,
        name,
        list(emails),
        org,
        title,
        birthday,
        [dict(e) for e in events],
        list(groups),
    ) == values


def _row(account, source, key, etag, version, values, now) -> dict:
    deleted, name, emails, org, title, birthday, events, groups = values
    return {
        "account": account,
        "source": source,
        "contact_key": key,
        "etag": etag,
        "version": version,
        "deleted": deleted,
        "display_name": name,
        "emails": emails,
        "organization": org,
        "title": title,
        "birthday": birthday,
        "events": events,
        "groups": groups,
        "seen_at": now,
    }


def stored_contact_keys(con: duckdb.DuckDBPyConnection, account: str, source: str) -> list[str]:
    """Keys of the contacts (account, source) holds and has not seen deleted."""
    rows = con.execute(
        "select contact_key from (" + _LATEST + ") where not deleted order by 1",
        {"account": account, "source": source},
    ).fetchall()
    return [k for (k,) in rows]
