"""core.interactions is built incrementally: after any sequence of syncs, every model table
must equal a full rebuild over the same raw rows, and the build must do only the work the
changes call for."""

from __future__ import annotations

import dataclasses
import random
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from assets.tables import MODEL_TABLES, build_table, rebuild_model
from connectors.demo import simulate
from connectors.records import Batch
from engine.config import KeepwarmConfig
from engine.warehouse import apply_batch, ensure_schema
from tests.conftest import make_config, utc
from tests.crafted import AS_OF, ME, mail, meeting, row


class Store:
    """A warehouse that takes batches and rebuilds the model after each, the nightly way."""

    def __init__(self, path: Path, config: KeepwarmConfig) -> None:
        self.con = duckdb.connect(str(path))
        ensure_schema(self.con)
        self.config = config
        self.batches: list[Batch] = []

    def sync(self, batch: Batch) -> tuple:
        apply_batch(self.con, batch)
        self.batches.append(batch)
        rebuild_model(self.con, self.config)
        return self.last_build()

    def last_build(self) -> tuple:
        return self.con.execute(
            "select mode, reason, messages_rebuilt, events_rebuilt from core.interaction_builds"
            " order by built_at desc limit 1"
        ).fetchall()[0]


def tables(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    return {
        f"{schema}.{table}": con.execute(f"select * from {schema}.{table} order by all").fetchall()
        for schema, table in MODEL_TABLES
    }


def full_rebuild_of(store: Store, path: Path) -> dict[str, list[tuple]]:
    """The same batches applied to a fresh file and the model built whole, once."""
    con = duckdb.connect(str(path))
    ensure_schema(con)
    for batch in store.batches:
        apply_batch(con, batch)
    rebuild_model(con, store.config, full=True)
    built = tables(con)
    con.close()
    return built


@pytest.fixture
def config(tmp_path: Path) -> KeepwarmConfig:
    return make_config(tmp_path, me={"addresses": [ME]},
                       status={"as_of": AS_OF.isoformat()})[1]


def test_changes_rebuild_only_their_rows_and_match_a_full_rebuild(tmp_path, config):
    store = Store(tmp_path / "incremental.duckdb", config)
    day = utc(2026, 3, 2, 9)
    to_bo = mail(ME, ["bo@x.example"], day, rfc_id="b1")
    cy_answers_early = mail("cy@x.example", [ME], day + timedelta(days=1), in_reply_to="c1")
    to_cy = mail(ME, ["cy@x.example"], day, rfc_id="c1")
    to_dee = mail(ME, ["dee@x.example"], day, rfc_id="d1")
    dee_answers = mail("dee@x.example", [ME], day + timedelta(hours=5), in_reply_to="d1")
    from_eve = mail("eve@x.example", [ME], day)
    with_fay = meeting(day, 30, [(ME, "accepted"), ("fay@x.example", "accepted")])
    with_gus = meeting(day, 60, [(ME, "accepted"), ("gus@x.example", "accepted")])
    first = Batch(
        messages=[mail("ana@x.example", [ME], day), to_bo, cy_answers_early, to_dee,
                  dee_answers, from_eve],
        events=[with_fay, with_gus],
    )
    assert store.sync(first) == ("full", "first build", 6, 2)
    assert store.con.execute(
        "select is_reply from core.interactions where interaction_key = ?",
        [cy_answers_early.message_key],
    ).fetchall() == [(False,)]

    bo_answers = mail("bo@x.example", [ME], day + timedelta(days=2), in_reply_to="b1")
    second = Batch(
        messages=[
            bo_answers,                                    # answers an old message
            to_cy,                                         # the parent of an earlier reply
            dataclasses.replace(from_eve, labels=["INBOX", "CATEGORY_PROMOTIONS"]),
            mail("hal@x.example", [ME], day + timedelta(days=3)),
        ],
        events=[dataclasses.replace(with_fay, status="cancelled")],
        deleted_message_keys=[(ME, to_dee.message_key)],   # dee's reply loses its parent
    )
    # By hand: 4 new or rewritten messages, the deleted one, cy's early reply (its parent
    # arrived) and dee's reply (its parent went): 7; one rewritten event.
    assert store.sync(second) == ("incremental", "only what changed in raw.*", 7, 1)
    replies = dict(store.con.execute(
        "select interaction_key, is_reply from core.interactions"
        " where interaction_key in (?, ?, ?)",
        [cy_answers_early.message_key, dee_answers.message_key, bo_answers.message_key],
    ).fetchall())
    assert replies == {cy_answers_early.message_key: True, dee_answers.message_key: False,
                       bo_answers.message_key: True}
    assert tables(store.con) == full_rebuild_of(store, tmp_path / "full.duckdb")

    # Nothing new: nothing rebuilt, nothing changed.
    before = tables(store.con)
    assert store.sync(Batch()) == ("incremental", "only what changed in raw.*", 0, 0)
    assert tables(store.con) == before


def test_an_address_changing_kind_rebuilds_everything(tmp_path, config):
    store = Store(tmp_path / "incremental.duckdb", config)
    day = utc(2026, 3, 2, 9)
    store.sync(Batch(messages=[mail("ivy@x.example", [ME], day),
                               mail(ME, ["ivy@x.example"], day + timedelta(days=1))]))
    # Mail from ivy@ labelled SENT: the address is the user's own, so ivy's old rows go.
    mode, reason, *_ = store.sync(Batch(messages=[
        mail("ivy@x.example", ["zed@x.example"], day + timedelta(days=2), labels=["SENT"])
    ]))
    assert (mode, reason) == (
        "full", "1 known addresses changed person or kind in core.identities")
    assert store.con.execute(
        "select count(*) from core.interactions where person_id = 'ivy@x.example'"
    ).fetchall() == [(0,)]
    assert tables(store.con) == full_rebuild_of(store, tmp_path / "full.duckdb")


def test_a_changed_setting_or_a_request_rebuilds_everything(tmp_path, config):
    store = Store(tmp_path / "incremental.duckdb", config)
    store.sync(Batch(messages=[mail("news@x.example", [ME], utc(2026, 3, 2))]))
    store.config = config.model_copy(update={"noise": config.noise.model_copy(
        update={"allow": ["news@x.example"]})})
    assert store.sync(Batch())[:2] == ("full", "the SQL or a setting it reads changed")
    # A setting the file does not read (a status threshold) leaves it incremental.
    store.config = store.config.model_copy(update={"status": store.config.status.model_copy(
        update={"min_cold_days": 99})})
    assert store.sync(Batch())[:2] == ("incremental", "only what changed in raw.*")
    rebuild_model(store.con, store.config, full=True)
    assert store.last_build()[:2] == ("full", "a full rebuild was asked for")


def test_a_simulated_mailbox_synced_in_slices_matches_one_full_build(tmp_path):
    """Two years of simulated mail and meetings arrive in five slices, out of order within
    each, with some messages relabelled and some deleted on the way."""
    network = simulate(seed=3, end=date(2026, 11, 1), months=12, scale=0.4)
    config = KeepwarmConfig.model_validate({
        "me": {"addresses": list(network.user_addresses)},
        "warehouse": {"path": str(tmp_path / "unused.duckdb")},
        "identities": {"merge": [list(m) for m in network.merges]},
        "status": {"as_of": "2026-11-01T00:00:00+00:00"},
    })
    store = Store(tmp_path / "incremental.duckdb", config)
    rng = random.Random(5)
    messages = sorted(network.messages, key=lambda m: m.sent_at)
    events = sorted(network.events, key=lambda e: e.start_at)
    slices = 5
    for i in range(slices):
        chunk = messages[i * len(messages) // slices:(i + 1) * len(messages) // slices]
        rng.shuffle(chunk)
        seen = messages[:i * len(messages) // slices]
        relabelled = [dataclasses.replace(m, labels=[*m.labels, "CATEGORY_SOCIAL"])
                      for m in rng.sample(seen, min(10, len(seen)))]
        deleted = [(m.account, m.message_key) for m in rng.sample(seen, min(5, len(seen)))]
        mode, _, rebuilt, _ = store.sync(Batch(
            messages=chunk + relabelled,
            events=events[i * len(events) // slices:(i + 1) * len(events) // slices],
            deleted_message_keys=deleted,
        ))
        assert mode == ("full" if i == 0 else "incremental")
        # Replies pulled in by their parents are few: far from everything.
        assert rebuilt < len(chunk) + 2 * (len(relabelled) + len(deleted)) + 50
    assert tables(store.con) == full_rebuild_of(store, tmp_path / "full.duckdb")


# --- marts.contact_summaries: incremental in the people it redoes ---------------------------


def summary_build(con: duckdb.DuckDBPyConnection) -> tuple:
    return con.execute(
        "select mode, reason, people_rebuilt from marts.contact_summary_builds"
        " order by built_at desc limit 1"
    ).fetchall()[0]


def as_of(config: KeepwarmConfig, moment) -> KeepwarmConfig:
    return config.model_copy(update={"status": config.status.model_copy(
        update={"as_of": moment})})


def test_the_summaries_redo_the_people_whose_contact_changed_or_crossed_a_window(
    tmp_path, config
):
    night_before, tonight = AS_OF - timedelta(days=1), AS_OF
    store = Store(tmp_path / "incremental.duckdb", as_of(config, night_before))
    at_noon = timedelta(hours=12)
    store.sync(Batch(
        messages=[
            # Between the two as-of times: enters every figure.
            mail("ana@x.example", [ME], night_before + at_noon),
            # In the one-day band where tonight's 30-, 90- and 365-day windows lose it.
            mail("bo@x.example", [ME], night_before - timedelta(days=30) + at_noon),
            mail("cy@x.example", [ME], night_before - timedelta(days=90) + at_noon),
            mail("dee@x.example", [ME], night_before - timedelta(days=365) + at_noon),
            # Inside every window both nights, or outside all of them: unchanged.
            mail("eve@x.example", [ME], night_before - timedelta(days=10)),
            mail("eve@x.example", [ME], night_before - timedelta(days=400)),
        ],
        # Next week's meeting counts for nobody yet, tonight included.
        events=[meeting(tonight + timedelta(days=7), 30,
                        [(ME, "accepted"), ("fay@x.example", "accepted")])],
    ))
    # Everyone with contact that counts is looked at; ana (mail after this as-of time) and
    # fay (a meeting ahead) get no row yet.
    assert summary_build(store.con) == ("full", "first build", 6)
    assert store.con.execute("select count(*) from marts.contact_summaries").fetchall() == [(4,)]

    store.config = as_of(config, tonight)
    store.sync(Batch())
    # By hand: ana, bo, cy and dee; not eve (both mails keep their places), not fay.
    assert summary_build(store.con) == (
        "incremental", "only the people whose contact changed or moved", 4)
    assert store.con.execute(
        "select interactions_30d, interactions_90d, interactions_365d"
        " from marts.contact_summaries where person_id in ('bo@x.example', 'dee@x.example')"
        " order by person_id").fetchall() == [(0, 1, 1), (0, 0, 0)]
    assert tables(store.con) == full_rebuild_of(store, tmp_path / "full.duckdb")

    # New mail with the as-of time where it was: only its sender.
    store.sync(Batch(messages=[mail("eve@x.example", [ME], tonight - timedelta(hours=1))]))
    assert summary_build(store.con)[::2] == ("incremental", 1)
    assert tables(store.con) == full_rebuild_of(store, tmp_path / "full-2.duckdb")


def test_the_summaries_are_rebuilt_whole_when_increments_would_not_do(tmp_path, config):
    store = Store(tmp_path / "incremental.duckdb", config)
    store.sync(Batch(messages=[mail("ana@x.example", [ME], AS_OF - timedelta(days=3)),
                               mail("ana@home.example", [ME], AS_OF - timedelta(days=2))]))
    store.config = as_of(config, AS_OF - timedelta(days=1))
    store.sync(Batch())
    assert summary_build(store.con)[:2] == ("full", "the as-of time moved back")
    store.config = store.config.model_copy(update={"status": store.config.status.model_copy(
        update={"session_gap_days": 1})})
    store.sync(Batch())
    assert summary_build(store.con)[:2] == ("full", "the SQL or a setting it reads changed")
    # Merging two known addresses rebuilds core.interactions whole, and so the summaries.
    store.config = store.config.model_copy(update={"identities": store.config.identities.model_copy(
        update={"merge": [["ana@x.example", "ana@home.example"]]})})
    store.sync(Batch())
    assert store.last_build()[0] == "full"
    assert summary_build(store.con)[:2] == ("full", "core.interactions was rebuilt whole")
    assert tables(store.con) == full_rebuild_of(store, tmp_path / "full.duckdb")


def test_nightly_runs_with_the_as_of_time_moving_match_one_full_build(tmp_path):
    """Six months of simulated mail arrive night by night, a week at a time, each night
    built as of its own date: the summaries follow the windows as they slide."""
    network = simulate(seed=4, end=date(2026, 11, 1), months=6, scale=0.3)
    config = KeepwarmConfig.model_validate({
        "me": {"addresses": list(network.user_addresses)},
        "warehouse": {"path": str(tmp_path / "unused.duckdb")},
        "identities": {"merge": [list(m) for m in network.merges]},
    })
    store = Store(tmp_path / "incremental.duckdb", config)
    messages = sorted(network.messages, key=lambda m: m.sent_at)
    events = sorted(network.events, key=lambda e: e.start_at)
    night = utc(2026, 8, 1)
    while night <= utc(2026, 11, 1):
        store.config = as_of(config, night)
        store.sync(Batch(
            messages=[m for m in messages if night - timedelta(days=7) < m.sent_at <= night
                      or (night == utc(2026, 8, 1) and m.sent_at <= night)],
            # The calendar is known ahead: next week's meetings land before they happen.
            events=[e for e in events
                    if night - timedelta(days=7) < e.start_at - timedelta(days=7) <= night
                    or (night == utc(2026, 8, 1) and e.start_at <= night + timedelta(days=7))],
        ))
        night += timedelta(days=7)
    builds = store.con.execute(
        "select mode, count(*) from marts.contact_summary_builds group by 1").fetchall()
    assert dict(builds) == {"full": 1, "incremental": 13}
    assert tables(store.con) == full_rebuild_of(store, tmp_path / "full.duckdb")


def test_metrics_refreshed_alone_describe_the_moment_their_summaries_do(tmp_path, config):
    """Materialising marts/contact_metrics without its summaries (one asset picked in the
    UI) must not mix the summaries' window counts with a later day's silences."""
    store = Store(tmp_path / "incremental.duckdb", config)
    store.sync(Batch(messages=[mail("ana@x.example", [ME], AS_OF - timedelta(days=20)),
                               mail(ME, ["ana@x.example"], AS_OF - timedelta(days=10))]))
    later = as_of(config, AS_OF + timedelta(days=30)).model_params()
    for table in ("contact_metrics", "relationship_status"):
        build_table(store.con, "marts", table, later)
    assert row(store.con, "select tenure_days, interactions_30d from"
                          " marts.contact_metrics") == (20.0, 2)
    assert row(store.con, "select days_silent from marts.relationship_status") == (10.0,)
