"""The demo network as a connector: batches shaped exactly like a real source's."""

from __future__ import annotations

from collections.abc import Iterator

from connectors.demo.simulator import DemoNetwork
from connectors.records import Batch, Cursor


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
