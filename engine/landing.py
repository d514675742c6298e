"""The landing zone: each mailbox's batches as Parquet files, written without DuckDB.

Mailboxes land side by side (one process each, or one pod each on a cluster) because
none of them needs the warehouse's single write lock; one writer later loads what is new
into raw.* (`engine.warehouse.load_landing`). Layout, per mailbox:

    <root>/<kind>/<account>/
        mailbox.json                 landing id and the connector's cursors, rewritten
                                     after every batch
        batches/00000001.json        one manifest per batch, written last: its commit mark
        messages/00000001.parquet    the batch's rows, one file per table it has rows for
        events/00000001.parquet
        quarantine/00000001.parquet
        demo_truth/00000001.parquet

A manifest holds what is not rows: deletions, the (account, source) a snapshot replaces,
the cursor after the batch. Every file is written whole before it becomes visible (a
temporary name and a rename locally; a single PUT on object storage), the manifest only
after its Parquet files and `mailbox.json` only after the manifest. So a mailbox killed at
any point leaves committed batches numbered 1..n, maybe some orphan Parquet files that
batch n+1 overwrites, and a cursor no newer than batch n: the next run resumes there, and
a batch landed twice loads twice harmlessly because loading upserts by natural key.

`landing_id` is drawn when a mailbox first lands. The loader records it with the last
batch it loaded, so a landing folder deleted and begun again is loaded from its start
instead of being mistaken for batches already seen.
"""

from __future__ import annotations

import io
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import polars as pl
import pyarrow.fs as pafs

from connectors.records import Batch, Cursor, events_frame, messages_frame, quarantine_frame
from engine.locks import LockTimeoutError, exclusive_lock

# Raw tables a landed batch can carry rows for; demo_truth only ever as a snapshot.
ROW_TABLES = ("messages", "events", "quarantine")
SNAPSHOT_TABLES = ("demo_truth",)
_SEQ_DIGITS = 8


@dataclass(frozen=True)
class Snapshot:
    """Rows that replace everything one raw table holds for an account (the demo's truth).

    A reader yields it before the batches it belongs with; it lands with the next batch.
    """

    table: str
    account: str
    rows: pl.DataFrame

    def __post_init__(self) -> None:
        if self.table not in SNAPSHOT_TABLES:
            raise ValueError(f"{self.table} cannot be landed as a snapshot; "
                             f"choose one of {SNAPSHOT_TABLES}")


@dataclass
class LandingReport:
    """What one mailbox's landing wrote."""

    batches: int = 0
    messages: int = 0
    events: int = 0
    quarantined: int = 0
    deletions: int = 0
    last_seq: int = 0


@dataclass
class LandedBatch:
    """A committed batch read back for loading."""

    mailbox: MailboxLanding
    seq: int
    manifest: dict[str, Any]

    @property
    def rows(self) -> dict[str, int]:
        return self.manifest["rows"]

    @property
    def cursor(self) -> Cursor | None:
        c = self.manifest.get("cursor")
        return Cursor(c["account"], c["source"], c["stream"], c["value"]) if c else None

    @property
    def replace_account_source(self) -> tuple[str, str] | None:
        pair = self.manifest.get("replace_account_source")
        return (pair[0], pair[1]) if pair else None

    @property
    def snapshots(self) -> dict[str, str]:
        """Snapshot tables in this batch, each with the account whose rows it replaces."""
        return self.manifest.get("snapshots") or {}

    @property
    def deleted_message_keys(self) -> list[tuple[str, str]]:
        return [tuple(k) for k in self.manifest.get("deleted_message_keys") or []]

    @property
    def deleted_event_keys(self) -> list[tuple[str, str, str]]:
        return [tuple(k) for k in self.manifest.get("deleted_event_keys") or []]

    def table(self, name: str) -> pl.DataFrame | None:
        """The batch's rows for one table, or None when it has none."""
        if name not in self.rows:
            return None
        return self.mailbox.store.read_parquet(self.mailbox.part_path(name, self.seq))


@dataclass
class MailboxState:
    """What a reader needs to resume one mailbox: its cursors and the keys it has landed."""

    landing: MailboxLanding
    cursors: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def cursor(self, source: str, stream: str) -> dict[str, Any] | None:
        """The stored position of one stream, or None when it has never been synced."""
        return self.cursors.get((source, stream))

    def streams(self, *sources: str) -> dict[str, dict[str, Any]]:
        """Every stored cursor of these sources, keyed by stream."""
        return {stream: value for (source, stream), value in self.cursors.items()
                if source in sources}

    def message_keys(self, source: str) -> list[str]:
        """The message keys from `source` that this mailbox's landed batches leave in raw.*.

        Replayed in load order (a full replacement, then the batch's rows, then its
        deletions, as `warehouse.apply_batch` applies them), so a key deleted since it
        landed is not listed: a resync's prune then reports only deletions of keys the
        warehouse really held.
        """
        keys: set[str] = set()
        for batch in self.landing.committed():
            replaced = batch.replace_account_source
            if replaced and replaced[1] == source:
                keys.clear()
            if "messages" in batch.rows:
                path = self.landing.part_path("messages", batch.seq)
                frame = self.landing.store.read_parquet(path, columns=["source", "message_key"])
                keys.update(frame.filter(pl.col("source") == source)["message_key"].to_list())
            keys.difference_update(key for _, key in batch.deleted_message_keys)
        return sorted(keys)

    def event_spans(self, source: str, calendar_id: str) -> list[tuple[str, Any, Any]]:
        """(event_key, start_at, end_at) of every event of one calendar this mailbox landed.

        Every version of a moved event is listed, for the same reason as `message_keys`.
        """
        spans: set[tuple[str, Any, Any]] = set()
        for frame in self._landed("events", ["source", "calendar_id", "event_key", "start_at",
                                             "end_at"]):
            mine = frame.filter((pl.col("source") == source)
                                & (pl.col("calendar_id") == calendar_id))
            spans.update(mine.select("event_key", "start_at", "end_at").iter_rows())
        return sorted(spans)

    def _landed(self, table: str, columns: list[str]) -> Iterator[pl.DataFrame]:
        """The given columns of every committed batch's part of `table`."""
        for seq in self.landing.committed_seqs():
            path = self.landing.part_path(table, seq)
            if self.landing.store.exists(path):
                yield self.landing.store.read_parquet(path, columns=columns)


class LandingZone:
    """The landing folder (a local path) or prefix (s3://, gs://, ... via pyarrow)."""

    def __init__(self, location: str) -> None:
        self.location = location
        self.store = _open_store(location)

    def mailbox(self, kind: str, account: str) -> MailboxLanding:
        return MailboxLanding(self.store, kind, account)

    def mailboxes(self) -> list[MailboxLanding]:
        """Every mailbox that has begun landing, in a stable order."""
        found = []
        for kind in self.store.list_dirs(""):
            for folder in self.store.list_dirs(kind):
                identity = self.store.read_json(f"{kind}/{folder}/mailbox.json")
                if identity is not None:
                    found.append(self.mailbox(identity["kind"], identity["account"]))
        return sorted(found, key=lambda m: (m.kind, m.account))


class MailboxLanding:
    """One mailbox's corner of the landing zone."""

    def __init__(self, store: _Store, kind: str, account: str) -> None:
        self.store = store
        self.kind = kind
        self.account = account
        # Addresses are nearly always safe folder names; anything else is %-escaped.
        self.folder = f"{quote(kind, safe='')}/{quote(account, safe='@.+-_')}"

    def part_path(self, table: str, seq: int) -> str:
        return f"{self.folder}/{table}/{seq:0{_SEQ_DIGITS}d}.parquet"

    def _manifest_path(self, seq: int) -> str:
        return f"{self.folder}/batches/{seq:0{_SEQ_DIGITS}d}.json"

    def _identity(self) -> dict[str, Any] | None:
        return self.store.read_json(f"{self.folder}/mailbox.json")

    def landing_id(self) -> str | None:
        identity = self._identity()
        return identity["landing_id"] if identity else None

    def state(self) -> MailboxState:
        identity = self._identity() or {}
        cursors = {(c["source"], c["stream"]): c["value"] for c in identity.get("cursors", [])}
        return MailboxState(self, cursors)

    def committed_seqs(self) -> list[int]:
        names = self.store.list_files(f"{self.folder}/batches")
        return sorted(int(name.removesuffix(".json")) for name in names
                      if name.endswith(".json") and name.removesuffix(".json").isdigit())

    def committed(self, *, after_seq: int = 0) -> Iterator[LandedBatch]:
        """Committed batches numbered above `after_seq`, in order."""
        for seq in self.committed_seqs():
            if seq > after_seq:
                yield LandedBatch(self, seq, self.store.read_json(self._manifest_path(seq)))

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Refuse to land a mailbox that another process is landing right now.

        Two writers would number their batches alike. Object storage has no such lock;
        there the orchestrator must not start one mailbox twice (docs/scaling.md).
        """
        path = self.store.local_path(f"{self.folder}/.lock")
        if path is None:
            yield
            return
        try:
            with exclusive_lock(path, wait_s=0):
                yield
        except LockTimeoutError as exc:
            raise MailboxBusyError(
                f"{self.kind} mailbox {self.account} is being landed by another run; let it "
                f"finish, or stop it, then try again ({path})"
            ) from exc

    def land(self, items: Iterable[Batch | Snapshot]) -> LandingReport:
        """Write each batch a reader yields, in order, with its cursor after it.

        A batch that adds nothing (no rows, no deletions, the same cursor) is skipped, so
        a run over unchanged sources leaves the landing zone as it was.
        """
        identity = self._identity() or {
            "kind": self.kind, "account": self.account, "landing_id": uuid.uuid4().hex,
            "cursors": [],
        }
        if not self.store.exists(f"{self.folder}/mailbox.json"):
            self.store.write_json(f"{self.folder}/mailbox.json", identity)
        cursors = {(c["source"], c["stream"]): c["value"] for c in identity["cursors"]}
        seqs = self.committed_seqs()
        report = LandingReport(last_seq=seqs[-1] if seqs else 0)
        snapshots: list[Snapshot] = []
        for item in items:
            if isinstance(item, Snapshot):
                snapshots.append(item)
                continue
            if not snapshots and _adds_nothing(item, cursors):
                continue
            self._write_batch(report, item, snapshots)
            snapshots = []
            if item.cursor:
                c = item.cursor
                cursors[(c.source, c.stream)] = c.value
                identity["cursors"] = [
                    {"source": source, "stream": stream, "value": value}
                    for (source, stream), value in sorted(cursors.items())
                ]
                self.store.write_json(f"{self.folder}/mailbox.json", identity)
        if snapshots:
            self._write_batch(report, Batch(), snapshots)
        return report

    def _write_batch(self, report: LandingReport, batch: Batch,
                     snapshots: list[Snapshot]) -> None:
        seq = report.last_seq + 1
        parts = {
            "messages": messages_frame(batch.messages) if batch.messages else None,
            "events": events_frame(batch.events) if batch.events else None,
            "quarantine": quarantine_frame(batch.quarantine) if batch.quarantine else None,
            **{s.table: s.rows for s in snapshots},
        }
        rows = {}
        for table, frame in parts.items():
            if frame is not None:
                self.store.write_parquet(self.part_path(table, seq), frame)
                rows[table] = frame.height
        manifest = {
            "seq": seq,
            "kind": self.kind,
            "account": self.account,
            "landed_at": datetime.now(UTC).isoformat(),
            "rows": rows,
            "deleted_message_keys": [list(k) for k in batch.deleted_message_keys],
            "deleted_event_keys": [list(k) for k in batch.deleted_event_keys],
            "replace_account_source": list(batch.replace_account_source)
            if batch.replace_account_source else None,
            "snapshots": {s.table: s.account for s in snapshots},
            "cursor": {"account": batch.cursor.account, "source": batch.cursor.source,
                       "stream": batch.cursor.stream, "value": batch.cursor.value}
            if batch.cursor else None,
        }
        self.store.write_json(self._manifest_path(seq), manifest)
        report.last_seq = seq
        report.batches += 1
        report.messages += len(batch.messages)
        report.events += len(batch.events)
        report.quarantined += len(batch.quarantine)
        report.deletions += len(batch.deleted_message_keys) + len(batch.deleted_event_keys)


class MailboxBusyError(RuntimeError):
    """Another process is landing the same mailbox."""


def _adds_nothing(batch: Batch, cursors: dict[tuple[str, str], dict[str, Any]]) -> bool:
    if (batch.messages or batch.events or batch.quarantine or batch.deleted_message_keys
            or batch.deleted_event_keys or batch.replace_account_source):
        return False
    if batch.cursor is None:
        return True
    # Through JSON, so a tuple and the list it was stored as compare equal.
    stored = cursors.get((batch.cursor.source, batch.cursor.stream))
    return json.dumps(stored, sort_keys=True) == json.dumps(batch.cursor.value, sort_keys=True)


# -- storage --------------------------------------------------------------------------


class _Store:
    """Whole-file reads and writes under a root, on a local disk or object storage."""

    def write_bytes(self, path: str, data: bytes) -> None:
        raise NotImplementedError

    def read_bytes(self, path: str) -> bytes | None:
        raise NotImplementedError

    def list_entries(self, path: str, *, dirs: bool) -> list[str]:
        raise NotImplementedError

    def local_path(self, path: str) -> Path | None:
        """The local file for `path`, when there is one (for locking)."""
        return None

    def exists(self, path: str) -> bool:
        return self.read_bytes(path) is not None

    def list_dirs(self, path: str) -> list[str]:
        return self.list_entries(path, dirs=True)

    def list_files(self, path: str) -> list[str]:
        return self.list_entries(path, dirs=False)

    def write_json(self, path: str, value: Any) -> None:
        self.write_bytes(path, json.dumps(value, sort_keys=True, indent=1).encode())

    def read_json(self, path: str) -> Any | None:
        data = self.read_bytes(path)
        return json.loads(data) if data is not None else None

    def write_parquet(self, path: str, frame: pl.DataFrame) -> None:
        buffer = io.BytesIO()
        frame.write_parquet(buffer)
        self.write_bytes(path, buffer.getvalue())

    def read_parquet(self, path: str, columns: list[str] | None = None) -> pl.DataFrame:
        data = self.read_bytes(path)
        if data is None:
            raise FileNotFoundError(f"landing file {path} is missing; its batch cannot load")
        return pl.read_parquet(io.BytesIO(data), columns=columns)


class _LocalStore(_Store):
    def __init__(self, root: Path) -> None:
        self.root = root

    def local_path(self, path: str) -> Path:
        return self.root / path

    def write_bytes(self, path: str, data: bytes) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        with temporary.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, target)

    def read_bytes(self, path: str) -> bytes | None:
        try:
            return (self.root / path).read_bytes()
        except FileNotFoundError:
            return None

    def exists(self, path: str) -> bool:
        return (self.root / path).exists()

    def list_entries(self, path: str, *, dirs: bool) -> list[str]:
        folder = self.root / path
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir()
                      if p.is_dir() == dirs and not p.name.startswith("."))


class _ObjectStore(_Store):
    """Object storage through pyarrow's filesystems: one PUT per file is already atomic."""

    def __init__(self, fs: pafs.FileSystem, root: str) -> None:
        self.fs = fs
        self.root = root.rstrip("/")

    def _full(self, path: str) -> str:
        return f"{self.root}/{path}" if path else self.root

    def write_bytes(self, path: str, data: bytes) -> None:
        full = self._full(path)
        self.fs.create_dir(full.rsplit("/", 1)[0], recursive=True)
        with self.fs.open_output_stream(full) as f:
            f.write(data)

    def read_bytes(self, path: str) -> bytes | None:
        try:
            with self.fs.open_input_stream(self._full(path)) as f:
                return f.read()
        except FileNotFoundError:
            return None

    def list_entries(self, path: str, *, dirs: bool) -> list[str]:
        wanted = pafs.FileType.Directory if dirs else pafs.FileType.File
        infos = self.fs.get_file_info(pafs.FileSelector(self._full(path), allow_not_found=True))
        return sorted(i.base_name for i in infos
                      if i.type == wanted and not i.base_name.startswith("."))


def _open_store(location: str) -> _Store:
    if "://" not in location:
        return _LocalStore(Path(location))
    fs, root = open_filesystem(location)
    return _ObjectStore(fs, root)


def open_filesystem(location: str) -> tuple[pafs.FileSystem, str]:
    """pyarrow's filesystem for a URI and the path in it; s3:// honours an endpoint override.

    Credentials and region come from the standard AWS environment (AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION, ~/.aws/credentials). An
    S3-compatible store (MinIO, R2, Ceph) is named by AWS_ENDPOINT_URL_S3 or
    AWS_ENDPOINT_URL, `http://host:port` or `https://...`.
    """
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if location.startswith("s3://") and endpoint:
        scheme, _, host = endpoint.partition("://")
        fs = pafs.S3FileSystem(
            endpoint_override=host.rstrip("/") or scheme, scheme=scheme if host else "https",
            region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
            or "us-east-1",
        )
        return fs, location.removeprefix("s3://").rstrip("/")
    return pafs.FileSystem.from_uri(location)
