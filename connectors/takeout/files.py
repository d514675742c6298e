"""File access shared by the readers: clear errors, file identity for cursors, globs."""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from connectors.records import Cursor

HEAD_BYTES = 64 * 1024


class SourceFileError(OSError):
    """A source file or folder is missing or cannot be read; the message names the path.

    Attributes:
        path: the path as the caller gave it (or as a glob expanded it).
    """

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        super().__init__(f"{os.fspath(path)}: {problem}")
        self.path = os.fspath(path)


def describe_os_error(error: OSError) -> str:
    """A short, user-facing description of an OSError, without the path repeated."""
    if isinstance(error, FileNotFoundError):
        return "no such file or folder"
    if isinstance(error, PermissionError):
        return "permission denied (check the file's owner and mode)"
    if isinstance(error, IsADirectoryError):
        return "is a folder, expected a file"
    return error.strerror or str(error)


def stat_file(path: Path) -> os.stat_result:
    """`os.stat` for a regular file, raising `SourceFileError` otherwise."""
    try:
        st = path.stat()
    except OSError as error:
        raise SourceFileError(path, describe_os_error(error)) from error
    if path.is_dir():
        raise SourceFileError(path, describe_os_error(IsADirectoryError()))
    if not path.is_file():
        raise SourceFileError(path, "not a regular file")
    if not os.access(path, os.R_OK):
        raise SourceFileError(path, describe_os_error(PermissionError()))
    return st


def hash_range(path: Path, start: int, length: int) -> str:
    """SHA-256 (hex) of `length` bytes of a file from `start` (fewer if the file is shorter)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        f.seek(start)
        remaining = length
        while remaining > 0:
            chunk = f.read(min(remaining, 1 << 20))
            if not chunk:
                break
            digest.update(chunk)
            remaining -= len(chunk)
    return digest.hexdigest()


def cursor_value(cursor: Cursor | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Accept either a `Cursor` or its `value` dict; None stays None."""
    if cursor is None:
        return None
    if isinstance(cursor, Cursor):
        return dict(cursor.value)
    return dict(cursor)


_GLOB_CHARS = frozenset("*?[")


def expand_paths(paths_or_globs: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Expand `~` and glob patterns; every item must name at least one existing path.

    Raises:
        SourceFileError: a plain path does not exist, or a pattern matches nothing.
    """
    return [path for path, _ in expand_paths_marked(paths_or_globs)]


def expand_paths_marked(
    paths_or_globs: Iterable[str | os.PathLike[str]],
) -> list[tuple[Path, bool]]:
    """`expand_paths`, each resolved path with whether only a glob pattern named it (a
    path named on its own must be readable; one a glob found may be skipped)."""
    if isinstance(paths_or_globs, str | os.PathLike):
        paths_or_globs = [paths_or_globs]
    found: list[tuple[Path, bool]] = []
    for item in paths_or_globs:
        text = os.path.expanduser(os.fspath(item))
        if _GLOB_CHARS & set(text):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                raise SourceFileError(text, "the pattern matches no file or folder")
            found.extend((Path(m), True) for m in matches)
        else:
            path = Path(text)
            if not path.exists():
                raise SourceFileError(text, "no such file or folder")
            found.append((path, False))
    unique: dict[Path, bool] = {}
    for path, globbed in found:
        resolved = path.resolve()
        unique[resolved] = unique.get(resolved, True) and globbed
    return list(unique.items())


def check_readable_files(
    paths_or_globs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    inside: str,
) -> list[Path]:
    """The files named (paths or globs, ~ expanded), each once, each a readable file and
    not an archive (`check_not_archive`, naming `inside` as what to name instead); nothing
    is read but their first bytes.

    Raises:
        SourceFileError: the first path that is missing, matches nothing, is a folder,
            cannot be read or is an archive; the message names it.
    """
    paths = expand_paths(paths_or_globs)
    for path in paths:
        stat_file(path)
        check_not_archive(path, inside)
    return paths


# The first bytes of the archives an export comes in (Google Takeout: .zip or .tgz).
_ARCHIVES = ((b"PK\x03\x04", "a zip archive"), (b"\x1f\x8b", "a gzip archive"),
             (b"BZh", "a bzip2 archive"), (b"\xfd7zXZ\x00", "an xz archive"),
             (b"7z\xbc\xaf\x27\x1c", "a 7z archive"))
_TAR_MAGIC_AT = 257  # "ustar" in a tar header


def check_not_archive(path: Path, inside: str) -> None:
    """Raise `SourceFileError` when `path` is an archive rather than what it holds.

    A Takeout download is a zip (or .tgz) of folders; named as it is, it would be read as
    one unparseable message and quarantined, which says nothing useful. `inside` is the
    example of what to name instead ("Takeout/Mail/*.mbox").
    """
    try:
        with path.open("rb") as f:
            head = f.read(_TAR_MAGIC_AT + 5)
    except OSError:
        return  # stat_file has said what is wrong with it
    kind = next((kind for magic, kind in _ARCHIVES if head.startswith(magic)), None)
    if kind is None and head[_TAR_MAGIC_AT:] == b"ustar":
        kind = "a tar archive"
    if kind is not None:
        raise SourceFileError(path, f"{kind}, not the files in it: unpack it and name "
                                    f"those, e.g. {inside}")
