"""Each interaction once: copies of one message or meeting from several sources, mailboxes
or calendars of one owner count once (core.interactions.dedupe_key, issue 17 §3)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import duckdb

from connectors.records import Batch
from tests.conftest import make_config, utc
from tests.crafted import ALIAS, ME, mail, meeting
from tests.test_incremental import Store, full_rebuild_of, tables

pytest_plugins = ["tests.emulators.plugin"]

DAY = utc(2026, 3, 2, 9)
ANA = "ana@x.example"
DUPLICATE = "duplicate: another copy of it counts"
TWO_ACCOUNTS = {"me": {"addresses": [ME, ALIAS]}}


def copy(record, **changes):
    """The same message or event as another source or account delivers it: its own key."""
    key = "message_key" if hasattr(record, "message_key") else "event_key"
    return dataclasses.replace(record, **{key: f"{getattr(record, key)}-copy"}, **changes)


def counted(con, person: str = ANA) -> list[tuple]:
    """(account, source key, noise) of the person's rows, and their summary's counts."""
    return con.execute(
        "select account, interaction_key, noise_reason from core.interactions "
        "where address = $a order by account, interaction_key", {"a": person}).fetchall()


def summary(con, person: str = ANA) -> tuple:
    return con.execute(
        "select messages_received, messages_sent, meetings from marts.contact_summaries "
        "where person_id = $a", {"a": person}).fetchall()[0]


def test_the_same_message_from_an_mbox_and_gmail_counts_once(model):
    from_mbox = dataclasses.replace(mail(ANA, [ME], DAY, rfc_id="<hello@x.example>"),
                                    source="mbox", labels=[])
    # Gmail's copy: its own id, the label set, the Message-ID without brackets.
    from_gmail = copy(from_mbox, source="gmail", labels=["INBOX"],
                      rfc_message_id="hello@x.example")
    con = model([from_mbox, from_gmail])
    assert counted(con) == [(ME, from_mbox.message_key, None),
                            (ME, from_gmail.message_key, DUPLICATE)]
    (key,) = con.execute("select distinct dedupe_key from core.interactions").fetchall()[0]
    assert key == "mid:hello@x.example"
    assert summary(con) == (1, 0, 0)


def test_two_mailboxes_of_one_person_count_a_message_once(model):
    to_both = mail(ME, [ANA, ALIAS], DAY, rfc_id="m1")  # sent from one, copied to the other
    in_alias = copy(to_both, account=ALIAS, labels=["INBOX"])
    reply = mail(ANA, [ME, ALIAS], DAY + timedelta(hours=2), rfc_id="m2", in_reply_to="m1")
    reply_in_alias = copy(reply, account=ALIAS)
    con = model([to_both, in_alias, reply, reply_in_alias], **TWO_ACCOUNTS)
    rows = counted(con)
    assert [noise for *_, noise in rows].count(None) == 2 and len(rows) == 4
    assert summary(con) == (1, 1, 0)
    # The reply that counts is a reply, with its latency: two hours.
    assert con.execute("select is_reply, reply_latency_s from core.interactions "
                       "where not is_noise and direction = 'inbound'").fetchall() == [
        (True, 7200)]


def test_mailboxes_of_different_owners_count_once_each(model):
    # A team mailbox is not one of the user's addresses: its owner is the team address.
    mine = mail(ANA, [ME, "team@work.example"], DAY, rfc_id="t1")
    teams = copy(mine, account="team@work.example")
    con = model([mine, teams])
    assert [noise for *_, noise in counted(con)] == [None, None]
    assert con.execute("select owner from core.interactions where address = $a "
                       "order by owner", {"a": ANA}).fetchall() == [
        ("me",), ("team@work.example",)]


def test_the_same_invite_on_two_calendars_of_different_accounts_counts_once(model):
    invite = dataclasses.replace(
        meeting(DAY, 30, [(ME, "accepted"), (ALIAS, "accepted"), (ANA, "accepted")]),
        ical_uid="weekly-1@x.example")
    on_alias = copy(invite, account=ALIAS, calendar_id="primary")
    # The next instance of the series shares the UID, not the start: it counts too.
    next_week = copy(invite, start_at=DAY + timedelta(days=7),
                     end_at=DAY + timedelta(days=7, minutes=30))
    next_week = dataclasses.replace(next_week, event_key="next-week")
    con = model(events=[invite, on_alias, next_week], **TWO_ACCOUNTS)
    # The copy that counts is the first by account: Me.Personal@ sorts before me@.
    assert counted(con) == [(ALIAS, on_alias.event_key, None),
                            (ME, invite.event_key, DUPLICATE), (ME, "next-week", None)]
    assert summary(con) == (0, 0, 2)


def test_copies_without_message_id_match_on_sender_recipients_and_minute(model):
    bare = dataclasses.replace(mail(ANA, [ME], DAY), rfc_message_id=None)
    same = copy(bare, account=ALIAS, sent_at=DAY + timedelta(seconds=30),
                to_addrs=list(reversed(bare.to_addrs)))
    next_minute = dataclasses.replace(bare, message_key="later",
                                      sent_at=DAY + timedelta(minutes=1))
    con = model([bare, same, next_minute], **TWO_ACCOUNTS)
    assert [noise for *_, noise in counted(con)] == [None, None, DUPLICATE]
    assert summary(con) == (2, 0, 0)


def test_a_copy_deleted_hands_the_count_to_the_other_incrementally(tmp_path):
    _, config = make_config(tmp_path, me={"addresses": [ME, ALIAS]},
                            status={"as_of": "2026-06-01T00:00:00+00:00"})
    store = Store(tmp_path / "incremental.duckdb", config)
    first = mail(ANA, [ME, ALIAS], DAY, rfc_id="d1")
    second = copy(first, account=ALIAS)
    store.sync(Batch(messages=[first, second]))
    assert [noise for *_, noise in counted(store.con)] == [None, DUPLICATE]
    # The copy that counted goes; only the other copy's row is new in raw, yet it counts.
    mode, _, rebuilt, _ = store.sync(Batch(deleted_message_keys=[(ME, first.message_key)]))
    assert (mode, rebuilt) == ("incremental", 2)  # the deleted one and its copy
    assert counted(store.con) == [(ALIAS, second.message_key, None)]
    assert summary(store.con) == (1, 0, 0)
    # And back: a copy arriving later than the one that counts leaves it counting.
    store.sync(Batch(messages=[first]))
    assert [noise for *_, noise in counted(store.con)] == [None, DUPLICATE]
    assert tables(store.con) == full_rebuild_of(store, tmp_path / "full.duckdb")


def test_a_takeout_mbox_and_gmail_of_one_address_count_as_the_mbox_alone(
        gmail_emulator, tmp_path):
    """End to end: the Takeout sample read from its file and, through real HTTP, from the
    Gmail emulator holding the same messages; every copy lands, each counts once."""
    from dagster import DagsterInstance

    from pipelines.definitions import materialize_everything
    from tests.emulators.helpers import ACCOUNT, TAKEOUT_MBOX, mail_path, mbox_mailbox
    from tests.test_gmail_source import token_file

    box = gmail_emulator.add_mailbox(mbox_mailbox(TAKEOUT_MBOX))
    # The file's account is the same Gmail address spelt with a dot (Gmail ignores dots):
    # under the very same spelling, Takeout's Gmail ids would make the two copies one raw
    # row, the later replacing the earlier, which needs no dedupe key.
    files = {"account": "samuel.chan@gmail.com", "mail": [str(mail_path(TAKEOUT_MBOX))]}
    gmail = {"accounts": [{"address": ACCOUNT, "token_file": str(token_file(tmp_path))}],
             "api_endpoint": gmail_emulator.endpoint}
    as_of = {"as_of": "2026-06-01T00:00:00+00:00"}

    def build(name: str, **sources) -> duckdb.DuckDBPyConnection:
        folder = tmp_path / name
        folder.mkdir()
        path, config = make_config(folder, me={"addresses": [ACCOUNT]}, status=as_of,
                                   sources=sources)
        result = materialize_everything(path, instance=DagsterInstance.ephemeral(),
                                        parallel=False)
        assert result.success
        return duckdb.connect(config.warehouse.path, read_only=True)

    both = build("both", files=files, gmail=gmail)
    alone = build("alone", files=files)
    sources = dict(both.execute("select source, count(*) from raw.messages group by 1"
                                ).fetchall())
    assert sources == {"mbox": len(box.messages), "gmail": len(box.messages)}
    summaries = "select * from marts.contact_summaries order by person_id"
    assert both.execute(summaries).fetchall() == alone.execute(summaries).fetchall()
    counting = ("select count(*) from core.interactions where not is_noise")
    assert both.execute(counting).fetchall() == alone.execute(counting).fetchall()
    (duplicates,) = both.execute("select count(*) from core.interactions "
                                 "where noise_reason = $d", {"d": DUPLICATE}).fetchall()[0]
    assert duplicates > 0
