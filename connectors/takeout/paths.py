"""Several mail sources in one call: globs expanded, each path read by the right reader."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.headers import has_header_lines
from connectors.records import Batch, Cursor
from connectors.takeout.files import (
    SourceFileError,
    check_not_archive,
    check_readable_files,
    expand_paths_marked,
    stat_file,
)
from connectors.takeout.maildir import check_maildir, find_folders, read_maildir
from connectors.takeout.mbox import read_mbox
from connectors.takeout.message import ReadStats, SeenMessages

NOT_A_MAILDIR = "folder a glob matched that holds no Maildir (no cur/ or new/)"
NOT_MAIL = "file a glob matched that is not mail (no From_ line or mail header)"
UNREADABLE = "file a glob matched that cannot be read"
_MAILDIR_PARTS = frozenset({"cur", "new", "tmp"})
# A file is taken for mail when it starts with an mbox From_ line or its first lines are
# headers, one of them a header every message has (an .ics's "BEGIN:" is not one).
_MAIL_HEADER = re.compile(
    rb"(?im)^(?:from|to|date|message-id|received|return-path|delivered-to|subject)[ \t]*:"
)
_SNIFF_BYTES = 8192


def looks_like_mail(path: Path) -> bool:
    """Whether a file starts like an mbox or a message (.eml, a Maildir file)."""
    with path.open("rb") as f:
        head = f.read(_SNIFF_BYTES)
    if head.startswith(b"From "):
        return True
    block = re.split(rb"\r?\n\r?\n", head, maxsplit=1)[0]
    return has_header_lines(block.split(b"\n", 1)[0]) and _MAIL_HEADER.search(block) is not None


def select_mail_paths(
    paths_or_globs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
) -> tuple[list[Path], dict[str, int], frozenset[Path]]:
    """The mail sources named, expanded, each a readable file or a Maildir; nothing is read
    but the first bytes of what a glob matched.

    A path named on its own must be mail. What a glob pattern matched is kept when it is a
    Maildir (a folder with cur/ or new/ somewhere below) or a file that looks like mail
    (`looks_like_mail`); the rest is skipped and counted by reason, so `Mail/**` over a
    folder tree reads the mail in it. What lies inside a kept Maildir's cur/, new/ or tmp/
    (and its sub-folders) is the Maildir reader's and is not counted again.

    Returns:
        The paths to read, the count of what was skipped, by reason, and every file
        looked at (read or skipped), which a Maildir reader must not count again.

    Raises:
        SourceFileError: the first path named on its own that is missing, cannot be read,
            or is a folder but not a Maildir; or a pattern that matches nothing, or
            nothing that is mail. The message names it.
    """
    marked = expand_paths_marked(paths_or_globs)
    skipped: dict[str, int] = {}
    kept: list[Path] = []
    roots: list[Path] = []  # Maildirs kept

    def skip(reason: str) -> None:
        skipped[reason] = skipped.get(reason, 0) + 1

    # Parents before children, so a Maildir's insides know it was kept.
    order = sorted(range(len(marked)), key=lambda i: len(marked[i][0].parts))
    keep = [False] * len(marked)
    for i in order:
        path, globbed = marked[i]
        if not globbed:
            if path.is_dir():
                check_maildir(path)
                roots.append(path)
            else:
                stat_file(path)
                check_not_archive(path, "Takeout/Mail/*.mbox")
            keep[i] = True
            continue
        inside = next((r for r in roots if path.is_relative_to(r) and path != r), None)
        if path.is_dir():
            if inside is not None:
                continue  # a sub-folder of a Maildir being read
            try:
                found = find_folders(path)
            except OSError:
                found = []
            if found:
                roots.append(path)
                keep[i] = True
            else:
                skip(NOT_A_MAILDIR)
            continue
        if inside is not None and _MAILDIR_PARTS & set(path.relative_to(inside).parts[:-1]):
            continue  # a message file of a Maildir being read
        try:
            stat_file(path)
            mail = looks_like_mail(path)
        except OSError:
            skip(UNREADABLE)
            continue
        if mail:
            keep[i] = True
        else:
            skip(NOT_MAIL)
    kept = [path for (path, _), k in zip(marked, keep, strict=True) if k]
    if marked and not kept:
        what = ", ".join(f"{n:,} {reason}" for reason, n in sorted(skipped.items()))
        patterns = paths_or_globs
        if not isinstance(patterns, str | os.PathLike):
            patterns = " ".join(os.fspath(p) for p in patterns)
        raise SourceFileError(patterns, f"the pattern matches no mail ({what})")
    looked_at = frozenset(p for (p, _), k in zip(marked, keep, strict=True)
                          if k or not p.is_dir())
    return kept, skipped, looked_at


def check_mail_paths(
    paths_or_globs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
) -> list[Path]:
    """The mail sources named, expanded, each a readable file or a Maildir
    (`select_mail_paths` without the counts); nothing is read.

    Raises:
        SourceFileError: see `select_mail_paths`.
    """
    return select_mail_paths(paths_or_globs)[0]


def check_calendar_paths(
    paths_or_globs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
) -> list[Path]:
    """The .ics files named, expanded, each a readable file; nothing is read."""
    return check_readable_files(paths_or_globs, "Takeout/Calendar/*.ics")


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
    paths, skipped, looked_at = select_mail_paths(paths_or_globs)
    by_stream: dict[str, Any] = {}
    if isinstance(cursors, Mapping):
        by_stream = dict(cursors)
    elif cursors is not None:
        by_stream = {c.stream: c for c in cursors}
    seen = SeenMessages()
    now = datetime.now(UTC)
    stats = stats if stats is not None else ReadStats()
    for reason, count in skipped.items():
        stats.skip(reason, count)
    for path in paths:
        common = {"cursor": by_stream.get(str(path)), "include_subject": include_subject,
                  "batch_size": batch_size, "stats": stats, "seen": seen, "now": now}
        if path.is_dir():
            yield from read_maildir(path, account, counted_elsewhere=looked_at, **common)
        else:
            yield from read_mbox(path, account, **common)
