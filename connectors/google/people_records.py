"""People API person resources shaped into keepwarm's `ContactRecord`s.

Only what the model uses is kept: the display name, the email addresses (lower-cased,
deduplicated, in the order Google gives them), the first organisation's name and title,
the birthday, other events (anniversaries...) and the contact-group memberships. Phone
numbers, postal addresses, notes and photos are never requested, so never stored.

Dates are ISO-like strings: "1984-03-09", or "--03-09" when the year is not known (the
vCard convention, shared with connectors/takeout/vcard.py).

A person whose `metadata.deleted` is true (sent only to an incremental sync) is a
removal: the connector deletes its key.
"""

from __future__ import annotations

import json
from typing import Any

from connectors.contacts import ContactGroupRecord, ContactRecord
from connectors.records import QuarantineRecord

__all__ = ["ContactGroupRecord", "ContactRecord"]

SOURCE = "gcontacts"


class UnusableContactError(ValueError):
    """A person resource that cannot become a record (no resource name)."""


def is_deleted(person: dict[str, Any]) -> bool:
    return bool((person.get("metadata") or {}).get("deleted"))


def format_date(value: dict[str, Any] | None) -> str | None:
    """A google.type.Date ({year?, month, day}) as "YYYY-MM-DD" or "--MM-DD"; None if
    month or day is missing or out of range."""
    if not value:
        return None
    month, day, year = value.get("month"), value.get("day"), value.get("year")
    if not isinstance(month, int) or not isinstance(day, int):
        return None
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    if isinstance(year, int) and year > 0:
        return f"{year:04d}-{month:02d}-{day:02d}"
    return f"--{month:02d}-{day:02d}"


def _primary_first(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(entries, key=lambda e: not (e.get("metadata") or {}).get("primary"))


def contact_record(account: str, person: dict[str, Any]) -> ContactRecord:
    """One `people` resource as a ContactRecord.

    Raises:
        UnusableContactError: the resource has no resourceName.
    """
    key = person.get("resourceName")
    if not key:
        raise UnusableContactError("person resource without a resourceName")
    names = _primary_first(person.get("names") or [])
    name = next((n.get("displayName") for n in names if n.get("displayName")), None)
    emails: list[str] = []
    for entry in _primary_first(person.get("emailAddresses") or []):
        address = (entry.get("value") or "").strip().lower()
        if address and "@" in address and address not in emails:
            emails.append(address)
    orgs = [o for o in _primary_first(person.get("organizations") or []) if not o.get("endDate")]
    org = orgs[0] if orgs else {}
    birthdays = _primary_first(person.get("birthdays") or [])
    birthday = next((d for b in birthdays if (d := format_date(b.get("date")))), None)
    events = tuple(
        ((e.get("type") or "other").lower(), d)
        for e in person.get("events") or []
        if (d := format_date(e.get("date")))
    )
    groups = tuple(
        g
        for m in person.get("memberships") or []
        if (g := (m.get("contactGroupMembership") or {}).get("contactGroupResourceName"))
    )
    return ContactRecord(
        account=account,
        source=SOURCE,
        contact_key=key,
        etag=person.get("etag"),
        display_name=name,
        emails=tuple(emails),
        organization=(org.get("name") or "").strip() or None,
        title=(org.get("title") or "").strip() or None,
        birthday=birthday,
        events=events,
        groups=groups,
    )


def group_record(account: str, group: dict[str, Any]) -> ContactGroupRecord | None:
    """A contactGroups entry as a record; None for one without a resource name."""
    key = group.get("resourceName")
    if not key:
        return None
    return ContactGroupRecord(
        account=account,
        source=SOURCE,
        group_key=key,
        name=group.get("formattedName") or group.get("name") or key,
        group_type=group.get("groupType") or "USER_CONTACT_GROUP",
    )


def quarantine_record(account: str, person: dict[str, Any], reason: str) -> QuarantineRecord:
    """What to keep of a person that could not be read: its name and etag, no details."""
    excerpt = {k: person[k] for k in ("resourceName", "etag") if k in person}
    return QuarantineRecord(
        source=SOURCE,
        account=account,
        kind="contact",
        locator=person.get("resourceName") or "?",
        reason=reason,
        excerpt=json.dumps(excerpt, sort_keys=True)[:300] or None,
    )
