"""messages_frame builds Arrow columns directly; its values must equal the row-by-row path's.

The reference below is the builder messages_frame replaced (issue 18 §1): one dict per
address, one Python list per column, handed to polars with the schema. Every value of
every column must come out the same, on real mail and on hand-made edge cases.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
from polars.testing import assert_frame_equal

from connectors.records import MESSAGE_SCHEMA, Address, MessageRecord, messages_frame
from connectors.takeout.mbox import read_mbox

FIXTURES = Path(__file__).parents[1] / "fixtures" / "mail"


def row_by_row_frame(records: list[MessageRecord]) -> pl.DataFrame:
    columns: dict[str, list[Any]] = {name: [] for name in MESSAGE_SCHEMA}
    for r in records:
        for name in MESSAGE_SCHEMA:
            value = getattr(r, name)
            if name.endswith("_addrs"):
                value = [{"address": a.address, "name": a.name} for a in value]
            columns[name].append(value)
    return pl.DataFrame(columns, schema=MESSAGE_SCHEMA)


def mbox_records(name: str) -> list[MessageRecord]:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    return [m for batch in read_mbox(FIXTURES / name, "me@example.com", now=now,
                                     include_subject=True)
            for m in batch.messages]


def test_real_mail_gives_the_same_frame_both_ways():
    for name in ("emailnetwork-takeout-sample.mbox", "spamassassin-easy-ham-1-first300.mbox"):
        records = mbox_records(name)
        assert len(records) > 100
        frame = messages_frame(records)
        assert frame.schema == pl.Schema(MESSAGE_SCHEMA)
        assert_frame_equal(frame, row_by_row_frame(records))
        # Something to compare: addresses, names and references are really there.
        assert frame["to_addrs"].list.len().sum() > 0
        assert frame["from_addrs"].list.eval(pl.element().struct.field("name")).explode() \
            .drop_nulls().len() > 0


def test_edge_cases_give_the_same_frame_both_ways():
    sent = datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=UTC)
    records = [
        MessageRecord("me@example.com", "mbox", "k1", sent, "date_header"),
        MessageRecord(
            "me@example.com", "gmail", "k2", datetime(1970, 1, 1, tzinfo=UTC), "internal_date",
            rfc_message_id="a@b", thread_key="t",
            from_addrs=[Address("ana@example.com", "Ana Núñez")],
            to_addrs=[Address("b@example.com"), Address("c@example.com", "")],
            cc_addrs=(Address("d@example.com", "D"),),  # the reader's cached tuples
            bcc_addrs=[], in_reply_to="x@y", references=["r1", "r2", "r1"],
            labels=["SENT", "Important"], list_id="list.example", precedence="bulk",
            auto_submitted="auto-replied", has_list_unsubscribe=True, subject="Hé ☃",
        ),
        MessageRecord("me@example.com", "mbox", "k3", sent, "envelope",
                      references=[], labels=["Inbox"], to_addrs=[Address("e@example.com")]),
    ]
    frame = messages_frame(records)
    assert_frame_equal(frame, row_by_row_frame(records))
    assert frame.row(1, named=True)["to_addrs"] == [
        {"address": "b@example.com", "name": None}, {"address": "c@example.com", "name": ""}]
    assert frame["references"].to_list() == [[], ["r1", "r2", "r1"], []]
    assert frame["sent_at"].to_list()[0] == sent


def test_an_empty_batch_has_the_schema():
    frame = messages_frame([])
    assert frame.height == 0
    assert_frame_equal(frame, row_by_row_frame([]))
