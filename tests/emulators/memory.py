"""An in-memory stand-in for the warehouse's `apply_batch`, for connector-level tests.

Same semantics as pipelines.warehouse.apply_batch: replace_account_source first, then
upserts by (account, message_key), then deletions, then the cursor. The DuckDB tests use
the real thing.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

from connectors.records import Batch, MessageRecord, QuarantineRecord


class MemoryWarehouse:
    def __init__(self) -> None:
        self.messages: dict[tuple[str, str], MessageRecord] = {}
        self.quarantine: dict[tuple[str, str, str], QuarantineRecord] = {}
        self.cursors: dict[tuple[str, str, str], dict] = {}
        self.applied = 0

    def apply(self, batch: Batch) -> None:
        if batch.replace_account_source:
            account, source = batch.replace_account_source
            for key in [
                k for k, r in self.messages.items() if (r.account, r.source) == (account, source)
            ]:
                del self.messages[key]
        for record in batch.messages:
            self.messages[(record.account, record.message_key)] = record
        for key in batch.deleted_message_keys:
            self.messages.pop(tuple(key), None)
        for q in batch.quarantine:
            self.quarantine.setdefault((q.source, q.account, q.locator), q)
        if batch.cursor:
            c = batch.cursor
            self.cursors[(c.account, c.source, c.stream)] = copy.deepcopy(c.value)
        self.applied += 1

    def apply_all(self, batches: Iterable[Batch], limit: int | None = None) -> int:
        """Apply batches in order; stop (closing the generator) after `limit` of them."""
        n = 0
        iterator = iter(batches)
        try:
            for batch in iterator:
                self.apply(batch)
                n += 1
                if limit is not None and n >= limit:
                    break
        finally:
            close = getattr(iterator, "close", None)
            if close:
                close()
        return n

    def cursor(self, account: str, stream: str = "history", source: str = "gmail") -> dict | None:
        value = self.cursors.get((account, source, stream))
        return copy.deepcopy(value) if value is not None else None

    def keys(self, account: str, source: str = "gmail") -> set[str]:
        return {k for (a, k), r in self.messages.items() if a == account and r.source == source}
