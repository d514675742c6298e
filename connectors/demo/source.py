"""The demo network as a connector: batches shaped exactly like a real source's."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import date

from connectors.demo.simulator import USER, DemoNetwork, simulate
from connectors.records import Address, Attendee, Batch, Cursor


def read_demo(network: DemoNetwork, *, batch_size: int = 20_000) -> Iterator[Batch]:
    """Yield a simulated network as batches.

    The demo is a snapshot source: the first batch replaces whatever an earlier demo run
    loaded for the account, so a run with another seed or end date never mixes with it.

    Args:
        network: the output of `simulate`.
        batch_size: records per batch.

    Yields:
        Batches of messages, then events; the last carries the cursor.
    """
    account = network.user_addresses[0]
    chunks: list[Batch] = [
        Batch(messages=network.messages[i : i + batch_size])
        for i in range(0, len(network.messages), batch_size)
    ] + [
        Batch(events=network.events[i : i + batch_size])
        for i in range(0, len(network.events), batch_size)
    ]
    chunks = chunks or [Batch()]
    chunks[0].replace_account_source = (account, "demo")
    chunks[-1].cursor = Cursor(
        account=account,
        source="demo",
        stream="simulation",
        value={
            "messages": len(network.messages),
            "events": len(network.events),
        },
    )
    yield from chunks


def mailbox_addresses(index: int) -> tuple[str, str]:
    """The simulated user's work and personal address in demo mailbox `index`.

    Mailbox 0 is Alex Morgan's, as it always was; the others belong to colleagues at the
    same company, so a team's mailboxes share the CEO, the meeting room and many contacts.
    """
    if index == 0:
        return USER
    return f"member{index:02d}@northwind.example", f"northwind.member{index:02d}@gmail.com"


def mailbox_seed(seed: int, index: int) -> int:
    """The simulation seed of demo mailbox `index`: `seed` itself for the first mailbox."""
    if index == 0:
        return seed
    # A hash rather than seed + index, so mailboxes of neighbouring seeds never coincide.
    return int.from_bytes(hashlib.sha256(f"{seed}/{index}".encode()).digest()[:4], "big")


def simulate_mailbox(index: int, *, seed: int, end: date | None, months: int, scale: float,
                     profile: str) -> DemoNetwork:
    """One of several simulated mailboxes; mailbox 0 is exactly `simulate(seed, ...)`.

    Args:
        index: which mailbox, from 0.
        seed, end, months, scale, profile: as for `simulate`; mailbox `index` > 0 uses a
            seed derived from `seed` and the addresses from `mailbox_addresses`.

    Returns:
        The mailbox's network, its records and truth under its own user's addresses.
    """
    network = simulate(seed=mailbox_seed(seed, index), end=end, months=months, scale=scale,
                       profile=profile)
    if index == 0:
        return network
    return _relabel_user(network, dict(zip(USER, mailbox_addresses(index), strict=True)),
                         name=f"Northwind Member {index:02d}")


def _relabel_user(network: DemoNetwork, renamed: dict[str, str], *, name: str) -> DemoNetwork:
    """The same network seen from another person's mailbox: every user address replaced."""

    def address(a: Address) -> Address:
        return Address(renamed[a.address], name) if a.address in renamed else a

    def attendee(a: Attendee) -> Attendee:
        return replace(a, address=renamed[a.address], name=name) if a.address in renamed else a

    account = renamed[network.user_addresses[0]]
    return replace(
        network,
        user_addresses=tuple(renamed.get(a, a) for a in network.user_addresses),
        messages=[
            replace(m, account=account, from_addrs=[address(a) for a in m.from_addrs],
                    to_addrs=[address(a) for a in m.to_addrs],
                    cc_addrs=[address(a) for a in m.cc_addrs],
                    bcc_addrs=[address(a) for a in m.bcc_addrs])
            for m in network.messages
        ],
        events=[
            replace(e, account=account, organizer=renamed.get(e.organizer, e.organizer),
                    attendees=[attendee(a) for a in e.attendees])
            for e in network.events
        ],
        truth=[replace(t, account=account) for t in network.truth],
        introductions=[
            replace(i, introducer=renamed.get(i.introducer, i.introducer),
                    a=renamed.get(i.a, i.a), b=renamed.get(i.b, i.b))
            for i in network.introductions
        ],
    )
