"""The ingest layer: every mailbox lands as Parquet on its own, then one writer loads raw.*.

`landing/mailboxes` fans out into one `land_mailbox` step per mailbox the config names,
which the multiprocess executor runs side by side; none of them touches DuckDB. `raw/*`
then loads whatever landed since the last load, in one process, batch by batch, each
batch atomically with its cursor.

A source is two functions in `SOURCES`: which mailboxes the config names, and how to read
one of them from its stored cursors. Adding one (Google Calendar, say) is a reader, a
mailbox lister and a line in that mapping.
"""

import gc
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import chain
from pathlib import Path
from typing import Any

import polars as pl
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetObservation,
    AssetSpec,
    Config,
    DynamicOut,
    DynamicOutput,
    Failure,
    MaterializeResult,
    MetadataValue,
    Nothing,
    OpExecutionContext,
    Out,
    Output,
    graph_asset,
    multi_asset,
    op,
)
from pydantic import Field

from assets.resources import Landing, Settings, WarehouseResource
from assets.tables import markdown_table
from connectors.demo import mailbox_addresses, read_demo, simulate_mailbox
from connectors.google import (
    STREAM as GMAIL_STREAM,
)
from connectors.google import (
    AuthError,
    CalendarSyncReport,
    QuotaLimiter,
    SyncReport,
    build_calendar_service,
    build_gmail_service,
    delegated_credentials,
    google_scopes,
    load_credentials,
    sync_calendar,
    sync_gmail,
)
from connectors.records import Batch, Cursor
from connectors.takeout import (
    ReadStats,
    SourceFileError,
    check_calendar_paths,
    check_mail_paths,
    read_ics,
    read_mail_paths,
)
from engine.config import GcalAccountConfig, GoogleAccountConfig, KeepwarmConfig
from engine.landing import MailboxState, Snapshot
from engine.tally import RunSummary, Tally, log_summary, log_tally, watch
from engine.warehouse import WRITER_TAGS, load_landing, row_count

INGEST_GROUP = "ingest"
LANDING = AssetKey(["landing", "mailboxes"])
RAW_MESSAGES = AssetKey(["raw", "messages"])
RAW_EVENTS = AssetKey(["raw", "events"])
RAW_QUARANTINE = AssetKey(["raw", "quarantine"])


@dataclass(frozen=True)
class Mailbox:
    """One independently synced mailbox: a landing step of `landing/mailboxes`.

    Attributes:
        kind: the source, a key of `SOURCES`.
        account: the mailbox's address.
        settings: whatever the source's reader needs beyond the config (the demo's
            mailbox number, a Gmail account's credentials).
    """

    kind: str
    account: str
    settings: Any = None

    @property
    def key(self) -> str:
        """`<kind>:<account>`: how runs, logs and metadata name the mailbox."""
        return f"{self.kind}:{self.account}"


# A reader fills `notes` with what the UI should show about its mailbox (JSON-able).
ReadMailbox = Callable[
    [KeepwarmConfig, Mailbox, MailboxState, dict[str, Any]], Iterator[Batch | Snapshot]
]


@dataclass(frozen=True)
class Source:
    mailboxes: Callable[[KeepwarmConfig], list[Mailbox]]
    read: ReadMailbox


# -- demo -----------------------------------------------------------------------------


def _demo_mailboxes(config: KeepwarmConfig) -> list[Mailbox]:
    demo = config.sources.demo
    if demo is None:
        return []
    return [Mailbox("demo", mailbox_addresses(i)[0], i) for i in range(demo.mailboxes)]


def _read_demo(config: KeepwarmConfig, mailbox: Mailbox, state: MailboxState,
               notes: dict[str, Any]) -> Iterator[Batch | Snapshot]:
    demo = config.sources.demo
    # Fixed here, so that the fingerprint and the simulation agree on "today".
    end = demo.end or datetime.now(UTC).date()
    parameters = {"seed": demo.seed, "mailbox": mailbox.settings, "end": end.isoformat(),
                  "months": demo.months, "scale": demo.scale, "profile": demo.profile}
    stored = state.cursor("demo", "simulation")
    if stored and stored.get("parameters") == parameters:
        # The same parameters simulate the same mailbox: nothing to land again.
        notes["unchanged"] = 1
        return
    network = simulate_mailbox(mailbox.settings, seed=demo.seed, end=end, months=demo.months,
                               scale=demo.scale, profile=demo.profile)
    yield Snapshot("demo_truth", mailbox.account,
                   pl.DataFrame([asdict(row) for row in network.truth]))
    for batch in read_demo(network):
        if batch.cursor:
            c = batch.cursor
            batch.cursor = Cursor(c.account, c.source, c.stream,
                                  {**c.value, "parameters": parameters})
        yield batch


# -- files: Takeout mbox, Maildir, .ics -----------------------------------------------


def _files_mailboxes(config: KeepwarmConfig) -> list[Mailbox]:
    files = config.sources.files
    return [Mailbox("files", files.account)] if files is not None else []


def _read_files(config: KeepwarmConfig, mailbox: Mailbox, state: MailboxState,
                notes: dict[str, Any]) -> Iterator[Batch]:
    files = config.sources.files
    # Every path is checked before anything is read: a typo fails fast, not half-way.
    mail = check_mail_paths(files.mail) if files.mail else []
    calendars = check_calendar_paths(files.calendars) if files.calendars else []
    stats = ReadStats()
    # How far through the mbox files the reading is, in bytes: a file the cursor says is
    # read up to some offset counts as read that far.
    sizes = {str(p): p.stat().st_size for p in mail if p.is_file()}
    offsets = {stream: min(cursor.get("offset", 0), sizes[stream])
               for stream, cursor in state.streams("mbox").items() if stream in sizes}
    batches: Iterator[Batch] = iter(())
    if files.mail:
        batches = read_mail_paths(files.mail, files.account, state.streams("mbox", "maildir"),
                                  include_subject=config.store_subjects, stats=stats)
    for batch in chain(batches, _read_calendars(config, calendars, state, stats)):
        if batch.cursor and batch.cursor.source == "mbox":
            offsets[batch.cursor.stream] = batch.cursor.value["offset"]
        # Before each batch goes out, so that the progress reports read them live.
        _note_stats(notes, stats)
        notes["progress"] = {"done": sum(offsets.values()), "total": sum(sizes.values())}
        yield batch
    _note_stats(notes, stats)


def _note_stats(notes: dict[str, Any], stats: ReadStats) -> None:
    notes.update(files_read=stats.files, files_unchanged=stats.skipped_unchanged,
                 outside_window=stats.outside_window, duplicates_skipped=stats.duplicates,
                 duplicates_relabelled=stats.relabelled, skipped=dict(stats.skipped))


def _read_calendars(config: KeepwarmConfig, calendars: list[Path], state: MailboxState,
                    stats: ReadStats) -> Iterator[Batch]:
    files = config.sources.files
    window_start, window_end = calendar_window(files.past_days, files.future_days,
                                               config.as_of())
    cursors = state.streams("ics")
    seen: set[str] = set()
    for path in calendars:
        yield from read_ics(
            path, files.account, window_start=window_start, window_end=window_end,
            cursor=cursors.get(str(path.resolve())), include_summary=config.store_subjects,
            stats=stats, seen=seen, max_instances_per_series=files.max_instances_per_series,
            max_seconds_per_series=files.max_seconds_per_series,
        )


def calendar_window(past_days: int, future_days: int, as_of: datetime) -> tuple[date, date]:
    """Whole months around `as_of` (the config's `status.as_of`, else now), the moment the
    metrics are judged at: the window an .ics file's recurring series are expanded in, and
    a Calendar full sync's timeMin/timeMax. Whole months, so that it (and with it an .ics
    expansion or a Calendar resync) changes monthly, not daily, and an unchanged source
    stays a cheap check."""
    day = as_of.astimezone(UTC).date()
    return ((day - timedelta(days=past_days)).replace(day=1),
            (day + timedelta(days=future_days + 31)).replace(day=1))


# -- Google: Gmail and Calendar (Contacts: assets/contacts.py) ---------------------------


def google_credentials(config: KeepwarmConfig, account: GoogleAccountConfig):
    """The account's credentials, with the scopes of every Google source reading it."""
    # One token per address serves every Google source that reads it, so both load it
    # with the same scopes (otherwise each would refresh it for its own).
    scopes = google_scopes(**config.sources.google_sources(account.address))
    if account.service_account_key:
        return delegated_credentials(account.service_account_key, account.address, scopes)
    return load_credentials(account.token_path(), scopes, account=account.address)



def _gmail_mailboxes(config: KeepwarmConfig) -> list[Mailbox]:
    gmail = config.sources.gmail
    if gmail is None:
        return []
    return [Mailbox("gmail", account.address, account) for account in gmail.accounts]


def _read_gmail(config: KeepwarmConfig, mailbox: Mailbox, state: MailboxState,
                notes: dict[str, Any]) -> Iterator[Batch]:
    gmail = config.sources.gmail
    account = mailbox.settings
    report = SyncReport(account=account.address)
    yield from sync_gmail(
        build_gmail_service(google_credentials(config, account), gmail.api_endpoint),
        account.address,
        state.cursor("gmail", GMAIL_STREAM),
        limiter=QuotaLimiter.for_ceiling(gmail.units_per_minute),
        include_subject=config.store_subjects,
        # A resync after expired history upserts, then prunes what Gmail no longer has,
        # so the table is never emptier than before if the run dies half-way.
        known_message_keys=lambda: state.message_keys("gmail"),
        report=report,
    )
    notes[f"gmail/{account.address}"] = report.as_metadata()


def _gcal_mailboxes(config: KeepwarmConfig) -> list[Mailbox]:
    gcal = config.sources.gcal
    if gcal is None:
        return []
    return [Mailbox("gcal", account.address, account) for account in gcal.accounts]


def _read_gcal(config: KeepwarmConfig, mailbox: Mailbox, state: MailboxState,
               notes: dict[str, Any]) -> Iterator[Batch]:
    gcal = config.sources.gcal
    account: GcalAccountConfig = mailbox.settings
    service = build_calendar_service(google_credentials(config, account), gcal.api_endpoint)
    # The quota is per user: the account's calendars share one bucket.
    limiter = QuotaLimiter.for_ceiling(gcal.requests_per_minute)
    window_start, window_end = calendar_window(gcal.past_days, gcal.future_days,
                                               config.as_of())
    for calendar_id in account.calendars:
        report = CalendarSyncReport(account.address, calendar_id)
        yield from sync_calendar(
            service, account.address, calendar_id, state.cursor("gcal", calendar_id),
            limiter=limiter, window_start=window_start, window_end=window_end,
            include_summary=config.store_subjects,
            # A resync after an expired sync token prunes, within its window, the events
            # this mailbox landed that Google no longer lists.
            known_events=lambda calendar_id=calendar_id: state.event_spans("gcal", calendar_id),
            report=report,
        )
        notes[f"gcal/{account.address}/{calendar_id}"] = report.as_metadata()


SOURCES: dict[str, Source] = {
    "demo": Source(_demo_mailboxes, _read_demo),
    "files": Source(_files_mailboxes, _read_files),
    "gmail": Source(_gmail_mailboxes, _read_gmail),
    "gcal": Source(_gcal_mailboxes, _read_gcal),
}


def configured_mailboxes(config: KeepwarmConfig) -> list[Mailbox]:
    """Every mailbox keepwarm.yaml names, in the order of `SOURCES` and then the file."""
    return [m for source in SOURCES.values() for m in source.mailboxes(config)]


def select_mailboxes(config: KeepwarmConfig, wanted: list[str]) -> list[Mailbox]:
    """The configured mailboxes a run names: every one when `wanted` is empty, else those
    whose key (`gmail:you@gmail.com`) or address (every source of `you@gmail.com`) is in it.

    Raises:
        Failure: a name matches no configured mailbox (the message lists those there are).
    """
    configured = configured_mailboxes(config)
    if not wanted:
        return configured
    unknown = [w for w in wanted
               if not any(w.lower() in (m.key.lower(), m.account.lower()) for m in configured)]
    if unknown:
        raise Failure(
            f"no mailbox {', '.join(unknown)} in the config; its mailboxes are "
            f"{', '.join(m.key for m in configured) or 'none'}"
        )
    names = {w.lower() for w in wanted}
    return [m for m in configured if m.key.lower() in names or m.account.lower() in names]


# -- the landing asset ----------------------------------------------------------------


class LandingConfig(Config):
    """Run config of `landing/mailboxes` (the UI's launchpad: shift-click *Materialize*)."""

    mailboxes: list[str] = Field(
        default_factory=list,
        description="Land only these mailboxes, by address (`you@gmail.com`: each of its "
        "sources) or key (`gmail:you@gmail.com`); empty: every mailbox in keepwarm.yaml.",
    )


def _step_name(key: str, taken: set[str]) -> str:
    """A mapping key Dagster accepts ([A-Za-z0-9_]), readable and unique within a run."""
    name = base = re.sub(r"[^A-Za-z0-9_]", "_", key)
    suffix = 2
    while name in taken:
        name, suffix = f"{base}_{suffix}", suffix + 1
    taken.add(name)
    return name


@op(out=DynamicOut(str), description="One landing step per mailbox the run lands.")
def plan_mailboxes(context: OpExecutionContext, config: LandingConfig, settings: Settings):
    """Fan out over the mailboxes keepwarm.yaml names (or those the run config picks).

    Read from the file when the run starts, not when the code location loaded: a mailbox
    added to the file is landed by the next run without reloading anything.
    """
    taken: set[str] = set()
    for mailbox in select_mailboxes(settings.load(), config.mailboxes):
        yield DynamicOutput(mailbox.key, mapping_key=_step_name(mailbox.key, taken))


@op(description="Read one mailbox from its cursors and write its batches as Parquet.")
def land_mailbox(context: OpExecutionContext, settings: Settings, landing: Landing,
                 mailbox_key: str) -> dict[str, Any]:
    config = settings.load()
    mailboxes = {m.key: m for m in configured_mailboxes(config)}
    if mailbox_key not in mailboxes:
        raise Failure(f"mailbox {mailbox_key} is no longer in {settings.config_path}")
    mailbox = mailboxes[mailbox_key]
    _rendezvous(mailbox_key)
    zone_mailbox = landing.zone().mailbox(mailbox.kind, mailbox.account)
    notes: dict[str, Any] = {}
    tally = Tally(mailbox_key)
    started = time.perf_counter()
    with zone_mailbox.lock(), _landing_gc():
        state = zone_mailbox.state()
        items = SOURCES[mailbox.kind].read(config, mailbox, state, notes)
        try:
            report = zone_mailbox.land(
                watch(items, tally, notes, lambda t: log_tally(context.log, t)))
        except SourceFileError as exc:
            # The user's to fix, so the UI shows one line, not a traceback.
            raise Failure(f"{exc}; fix sources.files in {settings.config_path}") from None
        except AuthError as exc:
            raise Failure(str(exc)) from None
    notes.pop("progress", None)  # a live position, not a result
    landed = {"mailbox": mailbox_key, **asdict(report),
              "seconds": round(time.perf_counter() - started, 3), **notes}
    context.log.info(f"landed {mailbox_key}: {report}")
    context.log_event(AssetObservation(
        asset_key=LANDING,
        metadata={k: MetadataValue.json(v) if isinstance(v, dict) else v
                  for k, v in landed.items()},
    ))
    return {**landed, "tally": tally.as_json()}


# Allocations between two young-generation collections while a mailbox lands (Python's
# default is 700): a landing keeps nearly everything it makes until its batch is written,
# so frequent collections find next to nothing to free.
_LANDING_GC_THRESHOLD = 50_000


@contextmanager
def _landing_gc() -> Iterator[None]:
    """The garbage collector tuned for a landing: Dagster's objects frozen, fewer passes.

    A landing makes millions of objects that live until their batch is written, and every
    full collection walked the whole process, Dagster's few hundred thousand objects
    included, none of which the landing frees: those that exist before it starts are
    frozen (`gc.freeze`), and young collections run every 50,000 allocations, not 700.
    Cycles the landing leaves are still collected, only later. On 520,000 messages with
    Dagster loaded: 20.3 s of CPU as it was, 16.4 s frozen, 13.4 s with both, the same as
    the reader alone outside Dagster (13.3 s; BENCHMARKS.md).
    """
    thresholds = gc.get_threshold()
    # Someone froze the heap before (a server preparing to fork): keep it that way after.
    was_frozen = gc.get_freeze_count() > 0
    gc.freeze()
    gc.set_threshold(max(thresholds[0], _LANDING_GC_THRESHOLD), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        if not was_frozen:
            gc.unfreeze()


# Test-only: a folder where landing steps meet before they start (see `_rendezvous`).
RENDEZVOUS_ENV = "KEEPWARM_TEST_LANDING_RENDEZVOUS"


def _rendezvous(mailbox_key: str, timeout_s: float = 60) -> None:
    """With RENDEZVOUS_ENV set to a folder, wait there until two landing steps have come.

    How a test proves that mailboxes land side by side without measuring time: if steps
    ran one at a time, the first would wait alone and fail after `timeout_s`.
    """
    folder = os.environ.get(RENDEZVOUS_ENV)
    if not folder:
        return
    arrived = Path(folder)
    (arrived / re.sub(r"[^A-Za-z0-9_.@-]", "_", mailbox_key)).touch()
    deadline = time.monotonic() + timeout_s
    while sum(1 for _ in arrived.iterdir()) < 2:
        if time.monotonic() > deadline:
            raise Failure(f"{mailbox_key} waited {timeout_s:.0f} s for a second landing step "
                          "to start: the landing steps are not running side by side")
        time.sleep(0.05)


_SUMMED = ("batches", "messages", "events", "quarantined", "deletions", "files_unchanged",
           "duplicates_skipped", "duplicates_relabelled", "outside_window")


@op(out=Out(Nothing),
    description="Summarise what every mailbox landed, for the UI.")
def landed_mailboxes(context: OpExecutionContext, landed: list[dict[str, Any]]):
    landed = sorted(landed, key=lambda r: r["mailbox"])
    summary = RunSummary([Tally.from_json(row.pop("tally")) for row in landed])
    metadata: dict[str, Any] = {"mailboxes": len(landed)}
    # What `keepwarm run` prints at the end, word for word.
    metadata["summary"] = MetadataValue.md("```\n" + "\n".join(summary.lines()) + "\n```")
    metadata["read"] = summary.total("read")
    for name in _SUMMED:
        values = [row[name] for row in landed if name in row]
        if values:
            metadata[name if name != "batches" else "batches_landed"] = sum(values)
    metadata["quarantine_reasons"] = MetadataValue.json(dict(summary.reasons()))
    for row in landed:
        metadata.update({k: MetadataValue.json(v) for k, v in row.items() if isinstance(v, dict)})
    table = pl.DataFrame([
        {"mailbox": row["mailbox"], "read": tally.read,
         **{k: row.get(k) for k in ("batches", "messages", "events", "quarantined", "seconds")}}
        for row, tally in zip(landed, summary.mailboxes, strict=True)
    ])
    metadata["per_mailbox"] = MetadataValue.md(markdown_table(table))
    log_summary(context.log, summary)
    yield Output(None, metadata=metadata)


@graph_asset(
    key=LANDING,
    group_name=INGEST_GROUP,
    kinds={"parquet", "python"},
    description="Each mailbox's new mail and calendar metadata, landed as Parquet, one step "
    "per mailbox, side by side.",
)
def landing():
    return landed_mailboxes(plan_mailboxes().map(land_mailbox).collect())


def landing_run_config(mailboxes: Sequence[str]) -> dict[str, Any]:
    """Run config that lands only `mailboxes` (see `select_mailboxes`); {} lands them all."""
    if not mailboxes:
        return {}
    plan = {"plan_mailboxes": {"config": {"mailboxes": list(mailboxes)}}}
    return {"ops": {landing.node_def.name: {"ops": plan}}}


# -- raw.* from the landing zone ------------------------------------------------------


@multi_asset(
    name="raw_tables",
    specs=[
        AssetSpec(
            RAW_MESSAGES,
            deps=[LANDING],
            description="Email metadata from every mailbox (headers only).",
            group_name=INGEST_GROUP,
            kinds={"duckdb"},
        ),
        AssetSpec(
            RAW_EVENTS,
            deps=[LANDING],
            description="Calendar event instances from every mailbox.",
            group_name=INGEST_GROUP,
            kinds={"duckdb"},
        ),
        AssetSpec(
            RAW_QUARANTINE,
            deps=[LANDING],
            description="Inputs that could not be parsed, with the reason.",
            group_name=INGEST_GROUP,
            kinds={"duckdb"},
        ),
    ],
    op_tags=WRITER_TAGS,
)
def raw_tables(context: AssetExecutionContext, landing: Landing, warehouse: WarehouseResource):
    """Load every batch landed since the last load; each with its cursor, atomically."""
    with warehouse.connect() as con:
        loaded = load_landing(con, landing.zone())
        counts = {
            table: row_count(con, f"raw.{table}")
            for table in ("messages", "events", "quarantine")
        }
    context.log.info(f"loaded {loaded}")
    yield MaterializeResult(
        asset_key=RAW_MESSAGES,
        metadata={
            "dagster/row_count": counts["messages"],
            "loaded_this_run": loaded.messages,
            "batches_loaded": loaded.batches,
            "mailboxes_loaded": len(loaded.mailboxes),
        },
    )
    yield MaterializeResult(
        asset_key=RAW_EVENTS,
        metadata={"dagster/row_count": counts["events"], "loaded_this_run": loaded.events},
    )
    yield MaterializeResult(
        asset_key=RAW_QUARANTINE,
        metadata={
            "dagster/row_count": counts["quarantine"],
            "quarantined_this_run": loaded.quarantined,
        },
    )
