"""Several mail sources in one call: globs expanded, each path read by the right reader."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.records import Batch, Cursor
from connectors.takeout.files import expand_paths, stat_file
from connectors.takeout.maildir import check_maildir, read_maildir
from connectors.takeout.mbox import read_mbox
from connectors.takeout.message import ReadStats, SeenMessages


def check_mail_paths(
    paths_or_globs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
) -> list[Path]:
    """The mail sources named, expanded, each a readable file or a Maildir; nothing is read.

    Raises:
        SourceFileError: the first path that is missing, matches nothing, cannot be read,
            or is a folder but not a Maildir; the message names it.
    """
    paths = expand_paths(paths_or_globs)
    for path in paths:
        if path.is_dir():
            check_maildir(path)
        else:
            stat_file(path)
    return paths


def check_calendar_paths(
    paths_or_globs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
) -> list[Path]:
    """The .ics files named, expanded, each a readable file; nothing is read.

    Raises:
        SourceFileError: the first path that is missing, matches nothing, is a folder or
            cannot be read; the message names it.
    """
    paths = expand_paths(paths_or_globs)
    for path in paths:
        stat_file(path)
    return paths


def read_mail_paths(
    paths_or_globs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    account: str,
    cursors: Mapping[str, Cursor | Mapping[str, Any]] | Iterable[Cursor] | None = None,
    *,
    include_subject: bool = False,
    batch_size: int = 5000,
    stats: ReadStats | None = None,
) -> Iterator[Batch]:
    """Read mbox files, single-message files and Maildirs, de-duplicated across all of them.

    A folder is read as a Maildir (`read_maildir`); a file as an mbox (`read_mbox`), which
    also reads a single .eml message. All paths are checked before anything is read, so a
    typo fails fast instead of half-way through a long import.

    Args:
        paths_or_globs: paths or glob patterns ("~/Takeout/Mail/*.mbox", "**" recurses).
        account: the mailbox owner's address.
        cursors: the previous run's cursors: a mapping from `Cursor.stream` (the absolute
            path) to the `Cursor` or its `value`, or simply the list of `Cursor` objects.
        include_subject: keep decoded subjects (only when the user opted in).
        batch_size: records per batch.
        stats: optional counters to add to.

    Yields:
        The batches of each reader in turn; a message key already emitted from an earlier
        path is skipped, so a message in two files arrives once, unless the later copy
        carries labels the first lacked: then it is emitted again with the union of the
        labels (`SeenMessages`).

    Raises:
        SourceFileError: a path does not exist, a pattern matches nothing, or a file or
            folder cannot be read; the message names it.
    """
    paths = check_mail_paths(paths_or_globs)
    by_stream: dict[str, Any] = {}
    if isinstance(cursors, Mapping):
        by_stream = dict(cursors)
    elif cursors is not None:
        by_stream = {c.stream: c for c in cursors}
    seen = SeenMessages()
    now = datetime.now(UTC)
    stats = stats if stats is not None else ReadStats()
    for path in paths:
        reader = read_maildir if path.is_dir() else read_mbox
        yield from reader(
            path,
            account,
            cursor=by_stream.get(str(path)),
            include_subject=include_subject,
            batch_size=batch_size,
            stats=stats,
            seen=seen,
            now=now,
        )
