"""Maildir reader: one message per file under `cur/` and `new/`, headers only.

A Maildir root may hold Maildir++ sub-folders (`.Sent/`, `.Work.Clients/`) or nested
ones (`Sent/cur/`, as mbsync writes them); every folder with a `cur/` or `new/` below the
root is read. `tmp/` is never read (deliveries in progress).

Labels come from the folder, the way Gmail would show it: the root folder is "INBOX"; a
folder whose name contains the word "sent" (".Sent", "Sent Items", "[Gmail].Sent Mail")
is "SENT"; Drafts, Spam/Junk and Trash/Deleted map to "DRAFT", "SPAM", "TRASH"; any other
folder becomes a user label named after it ("Work/Clients"). Maildir flags (the ":2,S"
suffix) are read/replied marks, not labels, and are ignored. An `X-Gmail-Labels` header,
when present, is read as in an mbox.

Cursor (`Cursor.value`), one per root (`stream` = absolute path of the root):

    {"folders": {"<folder>/cur": {"mtime_ns": n, "seen": "<base64>"}, ...}}

`seen` packs an 8-byte BLAKE2b digest of each message's folder and *unique name* (the
file name without the ":2,flags" part, which changes when a message is read), so marking
a message read or moving it from new/ to cur/ does not make it new; moving it to another
folder does (its label changed, and the re-read record carries the new one). Adding,
removing or renaming a file changes its directory's mtime, so a directory whose mtime is
unchanged is not even listed: a re-run over an unchanged Maildir does no work beyond one
stat per directory.
A directory modified within the last two seconds is listed again next time, because
coarse file-system clocks could hide a delivery made in the same tick.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.records import Batch, Cursor, MessageRecord, QuarantineRecord
from connectors.takeout.files import SourceFileError, cursor_value, describe_os_error
from connectors.takeout.mbox import MAX_HEADER_BYTES, parse_envelope
from connectors.takeout.message import ReadStats, SeenMessages, build_record

SOURCE = "maildir"
_READ_BYTES = 64 * 1024
_DIGEST_BYTES = 8
_RACY_NS = 2_000_000_000
_INFO_SUFFIX = re.compile(r"[:!;]2,.*$")
_SENT_WORD = re.compile(r"(?:^|[^a-z])sent(?:[^a-z]|$)")
_BLANK_LINE = re.compile(rb"\n\r?\n")
_FOLDER_LABELS = {
    "inbox": "INBOX",
    "drafts": "DRAFT",
    "draft": "DRAFT",
    "spam": "SPAM",
    "junk": "SPAM",
    "junk e-mail": "SPAM",
    "junk email": "SPAM",
    "trash": "TRASH",
    "deleted items": "TRASH",
    "deleted messages": "TRASH",
    "bin": "TRASH",
}


@dataclass(frozen=True, slots=True)
class _Folder:
    name: str  # relative to the root, "" for the root itself
    directory: Path  # the cur/ or new/ directory
    key: str  # cursor key: "<name>/cur" or "<name>/new"


def folder_label(name: str) -> str:
    """The label a Maildir folder implies (see the module docstring)."""
    if not name:
        return "INBOX"
    parts = [p for p in re.split(r"[/\\]", name) if p]
    # Maildir++ spells sub-folders ".Work.Clients"; mbsync spells them "Work/Clients".
    if len(parts) == 1 and parts[0].startswith("."):
        parts = [p for p in parts[0].split(".") if p]
    label = "/".join(parts)
    lowered = label.lower()
    if _SENT_WORD.search(lowered):
        return "SENT"
    leaf = lowered.rsplit("/", 1)[-1]
    return _FOLDER_LABELS.get(lowered) or _FOLDER_LABELS.get(leaf) or label


def unique_name(file_name: str) -> str:
    """A Maildir file name without its ":2,flags" info (stable across flag changes)."""
    return _INFO_SUFFIX.sub("", file_name)


def _digest(folder: str, name: str) -> bytes:
    data = f"{folder}\x00{unique_name(name)}".encode("utf-8", "surrogateescape")
    return hashlib.blake2b(data, digest_size=_DIGEST_BYTES).digest()


def _pack(digests: set[bytes]) -> str:
    return base64.b64encode(b"".join(sorted(digests))).decode("ascii")


def _unpack(text: str) -> set[bytes]:
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        return set()
    return {raw[i : i + _DIGEST_BYTES] for i in range(0, len(raw), _DIGEST_BYTES)}


def _folder_state(entry: dict[str, Any]) -> dict[str, Any]:
    seen = entry["seen"]
    return {"mtime_ns": entry["mtime_ns"], "seen": _pack(seen) if isinstance(seen, set) else seen}


OUTSIDE_CUR_NEW = "file in a Maildir outside cur/ and new/ (not a message; not read)"


def find_folders(root: Path, outside: list[Path] | None = None) -> list[_Folder]:
    """Every cur/ and new/ directory under `root`, sorted; tmp/ and the insides of
    cur/ and new/ are not walked (they hold only message files). `outside`, when given,
    receives the files seen outside cur/, new/ and tmp/ (index files, `maildirfolder`,
    stray copies): the reader counts them as skipped."""
    folders: list[_Folder] = []
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if not entry.is_dir(follow_symlinks=False):
                if outside is not None and entry.is_file(follow_symlinks=False):
                    outside.append(Path(entry.path))
                continue
            if entry.name in ("cur", "new"):
                name = directory.relative_to(root).as_posix()
                name = "" if name == "." else name
                folders.append(_Folder(name, Path(entry.path), f"{name}/{entry.name}"))
            elif entry.name != "tmp":
                stack.append(Path(entry.path))
    folders.sort(key=lambda f: f.key)
    return folders


def check_maildir(root: Path, outside: list[Path] | None = None) -> list[_Folder]:
    """The message folders of the Maildir at `root`, or `SourceFileError` saying why not.
    `outside` is `find_folders`'."""
    if not root.is_dir():
        problem = "no such folder" if not root.exists() else "not a folder (expected a Maildir)"
        raise SourceFileError(root, problem)
    try:
        os.scandir(root).close()
    except OSError as error:
        raise SourceFileError(root, describe_os_error(error)) from error
    folders = find_folders(root, outside)
    if not folders:
        raise SourceFileError(
            root, "not a Maildir (no cur/ or new/ folder inside): name the Maildir itself, "
            "or the mbox files in this folder (folder/*.mbox)")
    return folders


def read_header_block(path: Path) -> tuple[bytes, bytes | None]:
    """The header block of a message file, and its mbox From_ line if it starts with one.

    Reads 64 KiB at a time and stops at the first blank line (or at 1 MiB of headers).
    """
    with path.open("rb") as f:
        data = f.read(_READ_BYTES)
        envelope = None
        start = 0
        if data.startswith(b"From "):  # some tools save messages with their envelope
            newline = data.find(b"\n")
            if newline >= 0:
                envelope = data[:newline].rstrip(b"\r")
                start = newline + 1
        match = _BLANK_LINE.search(data, max(start - 1, 0))
        while match is None and len(data) < MAX_HEADER_BYTES:
            more = f.read(_READ_BYTES)
            if not more:
                break
            data += more
            match = _BLANK_LINE.search(data, max(start - 1, 0))
    if match is None:
        return data[start:MAX_HEADER_BYTES], envelope
    return data[start : match.start() + 1], envelope


def read_maildir(
    path: str | os.PathLike[str],
    account: str,
    *,
    cursor: Cursor | Mapping[str, Any] | None = None,
    include_subject: bool = False,
    batch_size: int = 5000,
    stats: ReadStats | None = None,
    seen: SeenMessages | None = None,
    now: datetime | None = None,
    counted_elsewhere: frozenset[Path] = frozenset(),
) -> Iterator[Batch]:
    """Read message metadata from a Maildir (and its sub-folders).

    Args:
        path: the Maildir root: the folder holding `cur/` and `new/`, or a folder above
            several Maildirs.
        account: the mailbox owner's address; stamped on every record.
        cursor: the `Cursor` (or its `value`) from the last batch of a previous run.
        include_subject: keep decoded subjects (only when the user opted in).
        batch_size: records (messages + quarantined) per batch.
        stats: optional counters to add to.
        seen: message keys already emitted in this run, with their labels (shared
            across sources; see `SeenMessages`).
        now: the current time for the date sanity rule; defaults to the clock.
        counted_elsewhere: files under the root, outside cur/ and new/, that the caller
            reads or counts itself (what a glob matched): not counted again here.

    Yields:
        `Batch` objects whose cursor is `Cursor(account, "maildir", stream=<root>, ...)`.
        Nothing at all when no directory changed since the cursor was taken.

    Raises:
        SourceFileError: the root is missing, not a folder, unreadable, or holds no
            cur/ or new/ directory anywhere.
    """
    root = Path(path).expanduser().resolve()
    outside: list[Path] = []
    folders = check_maildir(root, outside)
    stats = stats if stats is not None else ReadStats()
    stats.skip(OUTSIDE_CUR_NEW, len(set(outside) - counted_elsewhere))
    seen = seen if seen is not None else SeenMessages()
    now = now or datetime.now(UTC)
    previous = (cursor_value(cursor) or {}).get("folders", {})
    if not isinstance(previous, dict):
        previous = {}

    # Per directory: its mtime when last listed and the digests of the files read from it.
    state: dict[str, dict[str, Any]] = {}
    changed: list[tuple[_Folder, int]] = []
    for folder in folders:
        try:
            mtime_ns = folder.directory.stat().st_mtime_ns
        except OSError:
            continue
        old = previous.get(folder.key)
        if isinstance(old, dict) and old.get("mtime_ns") == mtime_ns:
            state[folder.key] = dict(old)
        else:
            changed.append((folder, mtime_ns))
    if not changed and previous and set(previous) == set(state):
        stats.skipped_unchanged += 1
        return

    # A message moves from new/ to cur/ when read: "known" spans all directories.
    known: set[bytes] = set()
    for entry in previous.values():
        if isinstance(entry, dict):
            known |= _unpack(str(entry.get("seen", "")))
    pending: list[tuple[_Folder, list[str]]] = []
    for folder, mtime_ns in changed:
        try:
            names = sorted(e.name for e in os.scandir(folder.directory) if e.is_file())
        except OSError as error:
            raise SourceFileError(folder.directory, describe_os_error(error)) from error
        current = {_digest(folder.name, n): n for n in names}
        racy = time.time_ns() - mtime_ns < _RACY_NS
        state[folder.key] = {
            "mtime_ns": None if racy else mtime_ns,
            # files that vanished are forgotten; new ones are added as they are read
            "seen": known & current.keys(),
        }
        new_names = [n for d, n in current.items() if d not in known]
        if new_names:
            pending.append((folder, new_names))
    if not pending and previous and {k: _folder_state(v) for k, v in state.items()} == previous:
        stats.skipped_unchanged += 1
        return

    messages: list[MessageRecord] = []
    quarantine: list[QuarantineRecord] = []

    def batch() -> Batch:
        value = {"folders": {key: _folder_state(entry) for key, entry in state.items()}}
        return Batch(
            messages=messages,
            quarantine=quarantine,
            cursor=Cursor(account, SOURCE, str(root), value),
        )

    for folder, names in pending:
        labels = (folder_label(folder.name),)
        folder_seen = state[folder.key]["seen"]
        for name in names:
            file_path = folder.directory / name
            locator = f"{file_path}:0"
            try:
                block, envelope_line = read_header_block(file_path)
            except FileNotFoundError:
                continue  # moved by a mail client meanwhile: found under its new name next run
            except OSError as error:
                quarantine.append(
                    QuarantineRecord(
                        source=SOURCE,
                        account=account,
                        kind="message",
                        locator=locator,
                        reason=f"cannot read the file: {describe_os_error(error)}",
                    )
                )
                continue  # not marked seen: retried on the next run
            stats.files += 1
            stats.bytes += len(block)
            record = build_record(
                block,
                account=account,
                source=SOURCE,
                locator=locator,
                envelope=parse_envelope(envelope_line),
                now=now,
                include_subject=include_subject,
                extra_labels=labels,
            )
            if type(record) is MessageRecord:
                if seen.admit(record, stats):
                    messages.append(record)
            else:
                quarantine.append(record)  # type: ignore[arg-type]
            folder_seen.add(_digest(folder.name, name))
            if len(messages) + len(quarantine) >= batch_size:
                stats.messages += len(messages)
                stats.quarantined += len(quarantine)
                yield batch()
                messages, quarantine = [], []
    stats.messages += len(messages)
    stats.quarantined += len(quarantine)
    yield batch()
