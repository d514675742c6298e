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


def _landed_mailbox(tmp_path, name, records):
    """Batches that only add rows around one that deletes, over two streams, with a key
    landed twice (its second copy relabelled) and a quarantined input landed twice."""
    from dataclasses import replace

    from connectors.records import Cursor, QuarantineRecord

    zone = LandingZone(str(tmp_path / name))
    mailbox = zone.mailbox("test", ME)
    a, b, c, d, e = records
    bad = QuarantineRecord("test", ME, "message", "f:10", "no date")

    def at(stream, n):
        return Cursor(ME, "test", stream, {"offset": n})

    mailbox.land([
        Batch(messages=[a, b], quarantine=[bad], cursor=at("one", 1)),
        Batch(messages=[c], cursor=at("two", 1)),
        Batch(messages=[replace(a, labels=["SENT"])], quarantine=[bad], cursor=at("one", 2)),
        Batch(deleted_message_keys=[(ME, b.message_key)], cursor=at("two", 2)),
        Batch(messages=[d], cursor=at("one", 3)),
        Batch(messages=[e, replace(d, labels=["Inbox"])], cursor=at("two", 3)),
    ])
    return zone, {"a": a.message_key, "b": b.message_key, "d": d.message_key}


def _raw(con):
    return {
        "messages": con.execute(
            "select * exclude (loaded_at) from raw.messages order by all").fetchall(),
        "quarantine": con.execute(
            "select source, account, kind, locator, reason, excerpt from raw.quarantine "
            "order by all").fetchall(),
        "sync_state": con.execute(
            "select account, source, stream, cursor from raw.sync_state order by all"
        ).fetchall(),
    }


def test_batches_loaded_together_leave_what_loading_them_one_by_one_leaves(tmp_path, monkeypatch):
    import duckdb

    from engine import warehouse
    from engine.warehouse import ensure_schema

    records = [mail("ana@x.example", [ME], utc(2026, 5, day)) for day in range(1, 6)]
    results = {}
    for group_rows in (1, warehouse.LOAD_GROUP_ROWS):
        monkeypatch.setattr(warehouse, "LOAD_GROUP_ROWS", group_rows)
        zone, keys = _landed_mailbox(tmp_path, f"landing-{group_rows}", records)
        with duckdb.connect(str(tmp_path / f"w-{group_rows}.duckdb")) as con:
            ensure_schema(con)
            report = load_landing(con, zone)
            assert (report.batches, report.messages, report.quarantined) == (6, 7, 2)
            results[group_rows] = _raw(con)
    one_by_one, grouped = results.values()
    # The landing id differs between the two folders; the loader's position must not.
    for rows in (one_by_one, grouped):
        rows["sync_state"] = [r if r[1] != "landing" else (*r[:3], r[3][-10:])
                              for r in rows["sync_state"]]
    assert grouped == one_by_one
    assert len(grouped["messages"]) == 4 and len(grouped["quarantine"]) == 1
    with duckdb.connect(str(tmp_path / f"w-{warehouse.LOAD_GROUP_ROWS}.duckdb")) as con:
        labels = dict(con.execute("select message_key, labels from raw.messages").fetchall())
        cursors = dict(con.execute("select stream, cursor from raw.sync_state").fetchall())
    # Each key's last copy wins; the deleted key stays deleted; each stream's last cursor.
    assert keys["b"] not in labels
    assert labels[keys["a"]] == ["SENT"] and labels[keys["d"]] == ["Inbox"]
    assert cursors["one"] == '{"offset": 3}' and cursors["two"] == '{"offset": 3}'
    assert '"seq": 6' in cursors["test"]


def test_events_landed_before_a_column_was_added_load_with_later_ones(tmp_path):
    """A batch landed by the code before migration 0004 has no birthday_contact; loaded in
    one group with a batch that has it, its rows get null there (issue 16)."""
    import duckdb

    from connectors.records import Cursor
    from engine.warehouse import ensure_schema
    from tests.crafted import meeting

    zone = LandingZone(str(tmp_path / "landing"))
    mailbox = zone.mailbox("test", ME)
    old = meeting(utc(2026, 5, 1, 9), 30, [(ME, "accepted"), ("bo@x.example", "accepted")])
    new = meeting(utc(2026, 5, 2), 24 * 60, [], event_type="birthday")
    new.birthday_contact = "people/c1"
    mailbox.land([Batch(events=[old], cursor=Cursor(ME, "test", "s", {"n": 1})),
                  Batch(events=[new], cursor=Cursor(ME, "test", "s", {"n": 2}))])
    first = mailbox.part_path("events", 1)
    zone.store.write_parquet(first, zone.store.read_parquet(first).drop("birthday_contact"))
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        ensure_schema(con)
        assert load_landing(con, zone).events == 2
        assert dict(con.execute("select event_key, birthday_contact from raw.events"
                                ).fetchall()) == {old.event_key: None,
                                                  new.event_key: "people/c1"}
