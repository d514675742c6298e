"""A simulated address book for the demo network's owner (Alex Morgan).

Drawn from the people the simulator planted (raw.demo_truth: address, name, segment), with
its own seeded random numbers, so the same network always gets the same address book:

* every close and regular tie and about half the acquaintances are contacts;
* Priya Shah (the simulator's person with two addresses) is one contact with both;
* about 70% have a birthday (a third of them without the year), and at least three
  fall in the two weeks after the demo's last day, so the digest has some to show;
* two labels: "Family" (three close ties) and "Clients" (a quarter of the regulars);
* five contacts changed jobs: an older version with another organisation and title,
  then the current one seen in the last two months.

Each contact comes as (record, seen_at) versions in the order they were "read".
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from connectors.contacts import ContactGroupRecord, ContactRecord
from connectors.demo.simulator import MERGED_PERSON

SOURCE = "demo"
FAMILY = "contactGroups/family"
CLIENTS = "contactGroups/clients"
_TITLES = ("Engineer", "Product Manager", "Designer", "Director", "Analyst", "Consultant")
_OLD_ORGS = ("Contoso", "Fabrikam", "Tailspin", "Litware", "Adventure Works")


@dataclass(frozen=True)
class DemoAddressBook:
    versions: list[tuple[ContactRecord, datetime]]
    groups: list[ContactGroupRecord]


def demo_address_book(
    account: str, people: Iterable[tuple[str, str, str]], *, seed: int, end: date
) -> DemoAddressBook:
    """The address book for `people` ((address, name, segment) rows of raw.demo_truth)."""
    rng = random.Random(f"address-book-{seed}")
    rows = sorted(set(people))
    chosen = [
        r for r in rows
        if r[2] in ("close", "regular") or (r[2] == "acquaintance" and rng.random() < 0.5)
    ]  # fmt: skip
    end_at = datetime.combine(end, time(8), tzinfo=UTC)
    first_read = end_at - timedelta(days=400)
    family = {r[0] for r in [r for r in chosen if r[2] == "close"][:3]}
    soon = [r[0] for r in chosen[1::7][:3]]  # birthdays in the next two weeks
    movers = {r[0] for r in chosen[2::9][:5]}
    versions: list[tuple[ContactRecord, datetime]] = []
    for n, (address, name, segment) in enumerate(chosen):
        emails = (address,)
        if address == MERGED_PERSON[0]:
            emails = MERGED_PERSON
        company = address.split("@", 1)[1].split(".", 1)[0].replace("-", " ").title()
        title = rng.choice(_TITLES)
        birthday = None
        if address in soon:
            day = end + timedelta(days=2 + 4 * soon.index(address))
            birthday = f"--{day.month:02d}-{day.day:02d}"
        elif rng.random() < 0.7:
            month, day = rng.randint(1, 12), rng.randint(1, 28)
            year = rng.randint(1960, 1998)
            birthday = f"--{month:02d}-{day:02d}" if rng.random() < 0.33 else (
                f"{year}-{month:02d}-{day:02d}")  # fmt: skip
        groups = []
        if address in family:
            groups.append(FAMILY)
        elif segment == "regular" and rng.random() < 0.25:
            groups.append(CLIENTS)
        current = ContactRecord(
            account, SOURCE, f"demo/{n}", None, name, emails, company, title, birthday,
            (), tuple(groups),
        )  # fmt: skip
        if address in movers:
            old = ContactRecord(
                account, SOURCE, current.contact_key, None, name, emails,
                rng.choice(_OLD_ORGS), rng.choice(_TITLES), birthday, (), tuple(groups),
            )  # fmt: skip
            versions.append((old, first_read))
            versions.append((current, end_at - timedelta(days=rng.randint(5, 60))))
        else:
            versions.append((current, first_read))
    groups = [
        ContactGroupRecord(account, SOURCE, FAMILY, "Family", "USER_CONTACT_GROUP"),
        ContactGroupRecord(account, SOURCE, CLIENTS, "Clients", "USER_CONTACT_GROUP"),
    ]
    return DemoAddressBook(sorted(versions, key=lambda v: v[1]), groups)
