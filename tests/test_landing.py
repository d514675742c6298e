"""The landing zone remembers what each mailbox's batches leave in the warehouse."""

from __future__ import annotations

from connectors.records import Batch
from engine.landing import LandingZone
from engine.warehouse import load_landing
from tests.conftest import utc
from tests.crafted import ME, mail


def test_message_keys_leave_out_what_later_batches_deleted_or_replaced(con, tmp_path):
    zone = LandingZone(str(tmp_path / "landing"))
    mailbox = zone.mailbox("test", ME)
    a, b, c, d = (mail("ana@x.example", [ME], utc(2026, 5, day)) for day in (1, 2, 3, 4))
    mailbox.land([
        Batch(messages=[a, b, c]),
        Batch(deleted_message_keys=[(ME, b.message_key), (ME, "never-landed")]),
    ])
    assert mailbox.state().message_keys("test") == sorted([a.message_key, c.message_key])
    # A full replacement (a resync) forgets everything landed before it.
    mailbox.land([Batch(messages=[d], replace_account_source=(ME, "test"))])
    held = mailbox.state().message_keys("test")
    assert held == [d.message_key]
    # The warehouse, loaded from the same batches, holds exactly those keys.
    load_landing(con, zone)
    assert [k for (k,) in con.execute(
        "select message_key from raw.messages order by 1").fetchall()] == held
