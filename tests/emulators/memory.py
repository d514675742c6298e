"""An in-memory stand-in for the warehouse's `apply_batch`, for connector-level tests.

Same semantics as engine.warehouse.apply_batch: replace_account_source first, then
upserts by (account, message_key) and (account, calendar_id, event_key), then
deletions, then the cursor. The DuckDB tests use the real thing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable

from connectors.records import Batch, EventRecord, MessageRecord, QuarantineRecord


class MemoryWarehouse:
    def __init__(self) -> None:
        self.messages: dict[tuple[str, str], MessageRecord] = {}
        self.events: dict[tuple[str, str, str], EventRecord] = {}
        self.quarantine: dict[tuple[str, str, str], QuarantineRecord] = {}
        self.cursors: dict[tuple[str, str, str], dict] = {}
        self.applied = 0
        # Deletions that removed a row (a key it did not hold removes nothing).
        self.rows_deleted = 0

    def apply(self, batch: Batch) -> None:
        if batch.replace_account_source:
            account, source = batch.replace_account_source
            for table in (self.messages, self.events):
                for key in [
                    k for k, r in table.items() if (r.account, r.source) == (account, source)
                ]:
                    del table[key]
        for record in batch.messages:
            self.messages[(record.account, record.message_key)] = record
        for event in batch.events:
            self.events[(event.account, event.calendar_id, event.event_key)] = event
        for key in batch.deleted_message_keys:
            self.rows_deleted += self.messages.pop(tuple(key), None) is not None
        for key in batch.deleted_event_keys:
            self.rows_deleted += self.events.pop(tuple(key), None) is not None
        for q in batch.quarantine:
            self.quarantine.setdefault((q.source, q.account, q.locator), q)
        if batch.cursor:
            c = batch.cursor
            self.cursors[(c.account, c.source, c.stream)] = copy.deepcopy(c.value)
        self.applied += 1

    def apply_all(self, batches: Iterable[Batch], limit: int | None = None) -> int:
        """Apply batches in order; stop (closing the generator) after `limit` of them."""
        return apply_in_order(self.apply, batches, limit)

    def cursor(self, account: str, stream: str = "history", source: str = "gmail") -> dict | None:
        value = self.cursors.get((account, source, stream))
        return copy.deepcopy(value) if value is not None else None

    def keys(self, account: str, source: str = "gmail") -> set[str]:
        return {k for (a, k), r in self.messages.items() if a == account and r.source == source}

    def calendar(self, account: str, calendar_id: str) -> dict[str, EventRecord]:
        """The events stored for one calendar, by event key."""
        return {
            key: record
            for (a, c, key), record in self.events.items()
            if (a, c) == (account, calendar_id)
        }

    def known_events(self, account: str, calendar_id: str):
        """A `known_events` callable for sync_calendar over this warehouse."""
        return lambda: [
            (key, r.start_at, r.end_at) for key, r in self.calendar(account, calendar_id).items()
        ]


def apply_in_order(
    apply: Callable[[Batch], object], batches: Iterable[Batch], limit: int | None = None
) -> int:
    """Apply batches one by one; after `limit` of them stop, as a killed process would.

    The generator is closed there, so the connector sees the run end where a crash would
    end it: after the last batch that was applied.
    """
    n = 0
    iterator = iter(batches)
    try:
        for batch in iterator:
            apply(batch)
            n += 1
            if limit is not None and n >= limit:
                break
    finally:
        close = getattr(iterator, "close", None)
        if close:
            close()
    return n


def restarted_until_done(run_once: Callable[[int], int], limit: int, *, max_runs: int = 100) -> int:
    """Call `run_once(run_number)` (a sync stopped after `limit` batches) until a run ends
    by itself; returns how many runs it took."""
    for run in range(1, max_runs + 1):
        if run_once(run) < limit:
            return run
    raise AssertionError(f"still not done after {max_runs} restarts")
