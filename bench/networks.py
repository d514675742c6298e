"""Synthetic networks at benchmark sizes, as DuckDB files holding raw.* and cached on disk.

The demo simulator grows linearly with `scale` (more people, each with the same rhythm):
over 24 months it writes about 1,400 + 7,200 x scale messages, so scale 1.2, 13.6 and 139
give about 10k, 100k and 1M messages. Simulating 1M takes about 25 s and 1.1 GiB in
Python, and loading it as many seconds again, which is why every size is built once and
kept under bench/.cache/ (keyed by the parameters and a hash of the code that shapes the
rows, so a changed simulator or raw schema builds afresh).

Beyond 1M the simulator is too slow and too big in memory, so the largest case copies the
1M mailbox inside DuckDB: each copy renames everyone but the user (`ana@x` becomes
`ana-r3@x`) and every message and event key, so it is the same user with a network that
many times wider, and core.interactions grows with it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime, formataddr
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from connectors.demo import read_demo, simulate  # noqa: E402
from connectors.demo.simulator import MERGED_PERSON, USER  # noqa: E402
from connectors.records import MessageRecord  # noqa: E402
from engine.config import KeepwarmConfig  # noqa: E402

CACHE_DIR = REPO / "bench" / ".cache"
SEED = 7
SIMULATION_END = date(2026, 11, 1)
# Fixed, so that every run judges the same network at the same moment.
AS_OF = datetime(2026, 11, 1, tzinfo=UTC)

# Files whose change alters the rows a cached network holds.
_SHAPING_CODE = (
    REPO / "connectors" / "demo" / "simulator.py",
    REPO / "connectors" / "demo" / "source.py",
    REPO / "connectors" / "records.py",
    *sorted((REPO / "assets" / "sql" / "migrations").glob("*.sql")),
)
# Bump when the copying SQL below changes.
_COPY_VERSION = 1


@dataclass(frozen=True)
class NetworkSize:
    """One benchmark size: simulator parameters, and how many renamed copies to stack."""

    label: str
    scale: float
    months: int = 24
    copies: int = 1

    def base(self) -> NetworkSize:
        return NetworkSize(f"{self.label}-base", self.scale, self.months)


SIZES = {
    "10k": NetworkSize("10k", 1.2),
    "100k": NetworkSize("100k", 13.6),
    "1m": NetworkSize("1m", 139.0),
    # 3 copies: the largest case a shared 2-core machine builds in a few minutes (issue 18 §3).
    "3m": NetworkSize("3m", 139.0, copies=3),
    # 10 copies of the 1M mailbox: about 10M messages and 11M rows in core.interactions.
    "10m": NetworkSize("10m", 139.0, copies=10),
}


@dataclass
class Network:
    """A cached network file and what it took to make it."""

    size: NetworkSize
    path: Path
    messages: int
    events: int
    simulate_s: float
    load_s: float
    copy_s: float = 0.0
    cached: bool = True


def model_config(warehouse: Path | str) -> KeepwarmConfig:
    """The configuration the simulated user would write: their addresses, the merge the
    simulator plants, and the fixed as-of time."""
    return KeepwarmConfig.model_validate(
        {
            "me": {"addresses": list(USER)},
            "warehouse": {"path": str(warehouse)},
            "identities": {"merge": [list(MERGED_PERSON)]},
            "status": {"as_of": AS_OF},
        }
    )


def network(size: NetworkSize, cache_dir: Path = CACHE_DIR) -> Network:
    """The network of this size, built into the cache first if it is not there yet."""
    path = cache_dir / f"{_cache_name(size)}.duckdb"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        return Network(size=size, path=path, **json.loads(meta.read_text()))
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.duckdb")
    partial.unlink(missing_ok=True)
    # Imported here: it brings in Dagster, which a child reading a cached network never needs.
    from engine.warehouse import row_count

    if size.copies > 1:
        base = network(size.base(), cache_dir)
        shutil.copyfile(base.path, partial)
        started = time.perf_counter()
        with duckdb.connect(str(partial)) as con:
            _stack_copies(con, size.copies)
            figures = {
                "messages": row_count(con, "raw.messages"),
                "events": row_count(con, "raw.events"),
                "simulate_s": base.simulate_s,
                "load_s": base.load_s,
                "copy_s": time.perf_counter() - started,
            }
    else:
        figures = _simulate_into(partial, size)
    partial.rename(path)
    meta.write_text(json.dumps(figures, indent=1))
    _forget_older_builds(path)
    return Network(size=size, path=path, cached=False, **figures)


def _forget_older_builds(current: Path) -> None:
    """Delete builds of the same parameters made by older code: they are never read again."""
    parameters = current.stem.rsplit("-", 1)[0]
    for stale in current.parent.glob(f"{parameters}-*"):
        if stale.stem.removesuffix(".partial") != current.stem:
            stale.unlink(missing_ok=True)


def _cache_name(size: NetworkSize) -> str:
    digest = hashlib.sha256(str(_COPY_VERSION).encode())
    for file in _SHAPING_CODE:
        digest.update(file.read_bytes())
    return (
        f"seed{SEED}-scale{size.scale:g}-months{size.months}-end{SIMULATION_END}"
        f"-x{size.copies}-{digest.hexdigest()[:10]}"
    )


def _simulate_into(path: Path, size: NetworkSize) -> dict:
    from engine.warehouse import apply_batch, ensure_schema

    started = time.perf_counter()
    simulated = simulate(seed=SEED, end=SIMULATION_END, months=size.months, scale=size.scale)
    simulated_at = time.perf_counter()
    with duckdb.connect(str(path)) as con:
        ensure_schema(con)
        for batch in read_demo(simulated):
            apply_batch(con, batch)
    return {
        "messages": len(simulated.messages),
        "events": len(simulated.events),
        "simulate_s": simulated_at - started,
        "load_s": time.perf_counter() - simulated_at,
    }


def _stack_copies(con: duckdb.DuckDBPyConnection, copies: int) -> None:
    con.execute(
        """
        create or replace temp macro renamed(address, copy, keep) as
            case
                when address is null or list_contains(keep, lower(address)) then address
                else split_part(address, '@', 1) || '-r' || copy || '@'
                     || split_part(address, '@', 2)
            end
        """
    )
    keep = list(USER)
    for copy in range(1, copies):
        params = {"copy": copy, "keep": keep}
        con.execute(
            """
            insert into raw.messages by name
            select * replace (
                message_key || '-r' || $copy as message_key,
                rfc_message_id || '-r' || $copy as rfc_message_id,
                thread_key || '-r' || $copy as thread_key,
                in_reply_to || '-r' || $copy as in_reply_to,
                list_transform("references", lambda r: r || '-r' || $copy) as "references",
                list_transform(from_addrs, lambda a: {
                    'address': renamed(a.address, $copy, $keep), 'name': a.name}) as from_addrs,
                list_transform(to_addrs, lambda a: {
                    'address': renamed(a.address, $copy, $keep), 'name': a.name}) as to_addrs,
                list_transform(cc_addrs, lambda a: {
                    'address': renamed(a.address, $copy, $keep), 'name': a.name}) as cc_addrs,
                list_transform(bcc_addrs, lambda a: {
                    'address': renamed(a.address, $copy, $keep), 'name': a.name}) as bcc_addrs
            )
            from raw.messages
            where not contains(message_key, '-r')
            """,
            params,
        )
        con.execute(
            """
            insert into raw.events by name
            select * replace (
                event_key || '-r' || $copy as event_key,
                ical_uid || '-r' || $copy as ical_uid,
                recurring_event_id || '-r' || $copy as recurring_event_id,
                renamed(organizer, $copy, $keep) as organizer,
                list_transform(attendees, lambda a: {
                    'address': renamed(a.address, $copy, $keep), 'name': a.name,
                    'response_status': a.response_status, 'is_self': a.is_self,
                    'is_organizer': a.is_organizer, 'optional': a.optional,
                    'is_resource': a.is_resource}) as attendees
            )
            from raw.events
            where not contains(event_key, '-r')
            """,
            params,
        )


def working_copy(net: Network, directory: Path, name: str = "keepwarm.duckdb") -> Path:
    """A private copy of a cached network, for runs that write raw.* (the nightly job)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    shutil.copyfile(net.path, target)
    return target


# --- the night's new mail -----------------------------------------------------------------


def nightly_store(
    net: Network, directory: Path, new_messages: int = 1000, *, model_built: bool = True
) -> Path:
    """A copy of the network plus an mbox of the night's new mail, and the keepwarm.yaml
    that syncs it: the returned config is what the nightly job runs with. With
    `model_built`, the model is built first with that config as of a day earlier, as the
    night before would, with the status history up to the day before last: tonight's run
    then moves the as-of time on by a day, as every night does, the metrics whose windows
    moved must follow, and the history gains the day just ended."""
    from assets.history import missing_days, snapshot_day
    from assets.tables import rebuild_model
    from engine.config import load_config
    from engine.warehouse import ensure_schema
    from tests.conftest import make_config

    store = working_copy(net, directory)
    mail = directory / "new-mail.mbox"
    write_new_mail(mail, new_messages)
    settings = model_config(store)
    path, _ = make_config(
        directory,
        me={"addresses": settings.me.addresses},
        identities={"merge": settings.identities.merge},
        status={"as_of": AS_OF.isoformat()},
        sources={"files": {"account": USER[0], "mail": [str(mail)]}},
    )
    if model_built:
        tonight = load_config(path)
        night_before = tonight.model_copy(update={"status": tonight.status.model_copy(
            update={"as_of": AS_OF - timedelta(days=1)})})
        with duckdb.connect(str(store)) as con:
            ensure_schema(con)
            rebuild_model(con, night_before)
            for day in missing_days(con, night_before):
                snapshot_day(con, night_before.model_params(), day)
    return path


def write_new_mail(path: Path, count: int, *, seed: int = SEED + 1) -> int:
    """An mbox of `count` messages that arrived in the last day before the as-of time.

    They are the latest of another seed's mailbox, squeezed in order into that day: new
    keys, mostly between people the store already knows (the simulator draws everyone's
    names from the same pool), and mail both ways, replies, threads and bulk as usual.
    """
    simulated = simulate(seed=seed, end=SIMULATION_END, months=6, scale=1.0)
    latest = simulated.messages[-count:]
    first, last = latest[0].sent_at, latest[-1].sent_at
    day_start = AS_OF - timedelta(days=1)
    squeeze = (timedelta(hours=23) / (last - first)) if last > first else 0
    with path.open("w", encoding="utf-8") as out:
        for message in latest:
            out.write(_mbox_entry(message, day_start + (message.sent_at - first) * squeeze))
    return len(latest)


def _mbox_entry(message: MessageRecord, sent_at: datetime) -> str:
    def addresses(items) -> str:
        return ", ".join(formataddr((a.name or "", a.address)) for a in items)

    labels = ["Sent" if "SENT" in message.labels else "Inbox"]
    labels += [
        "Category " + label.removeprefix("CATEGORY_").title()
        for label in message.labels
        if label.startswith("CATEGORY_")
    ]
    headers = {
        "X-Gmail-Labels": ",".join(labels),
        "From": addresses(message.from_addrs),
        "To": addresses(message.to_addrs),
        "Cc": addresses(message.cc_addrs),
        "Date": format_datetime(sent_at),
        "Message-ID": f"<{message.rfc_message_id}>",
        "In-Reply-To": f"<{message.in_reply_to}>" if message.in_reply_to else "",
        "References": " ".join(f"<{r}>" for r in message.references),
        "List-Id": message.list_id or "",
        "List-Unsubscribe": "<mailto:leave@example.org>" if message.has_list_unsubscribe else "",
        "Precedence": message.precedence or "",
        "Auto-Submitted": message.auto_submitted or "",
    }
    lines = [f"From {message.message_key}@xxx {sent_at:%a %b %d %H:%M:%S +0000 %Y}"]
    lines += [f"{name}: {value}" for name, value in headers.items() if value]
    return "\n".join(lines) + "\n\nbody never read\n\n"


def describe(net: Network) -> dict:
    """The size's parameters and generation figures, for the report."""
    return {**asdict(net.size), **{k: v for k, v in vars(net).items() if k != "size"}}
