"""Address-book records, shared by the People API connector and the vCard reader.

Dates are ISO-like strings: "1984-03-09", or "--03-09" when the year is not known (the
vCard convention). Only what the model uses is kept: no phone numbers, postal
addresses, notes or photos.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ContactRecord:
    """One version of one address-book contact.

    Attributes:
        account: the address book's owner.
        source: "gcontacts" (People API) or "vcard".
        contact_key: the People resource name ("people/c123") or the vCard UID.
        etag: the version Google gave (a vCard's REV or a hash of the card).
        display_name: the contact's name as the address book shows it.
        emails: lower-cased addresses, the primary one first.
        organization, title: of the first (current) organisation entry.
        birthday: "YYYY-MM-DD" or "--MM-DD".
        events: (kind, date) pairs, e.g. ("anniversary", "2015-06-20").
        groups: contact-group resource names ("contactGroups/abc") or vCard categories.
    """

    account: str
    source: str
    contact_key: str
    etag: str | None
    display_name: str | None
    emails: tuple[str, ...] = ()
    organization: str | None = None
    title: str | None = None
    birthday: str | None = None
    events: tuple[tuple[str, str], ...] = ()
    groups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ContactGroupRecord:
    """A contact group (a label): its resource name and the name the user gave it."""

    account: str
    source: str
    group_key: str
    name: str
    group_type: str
