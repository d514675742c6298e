"""An exclusive lock between processes, held on a small file beside what it protects.

The operating system releases it when the holder exits, however it exits, so a killed
run never leaves a stale lock behind.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

if os.name == "nt":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class LockTimeoutError(RuntimeError):
    """Another process held a lock for longer than the caller was willing to wait."""


@contextmanager
def exclusive_lock(
    path: Path, *, wait_s: float, on_wait: Callable[[], None] | None = None,
    held_by: str = "another process",
) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing) for the `with` block.

    Args:
        path: the lock file.
        wait_s: how long to wait for another holder before giving up; 0 fails at once.
        on_wait: called once if the lock is busy, e.g. to log that the caller is queued.
        held_by: who the holder probably is, for the error message.

    Raises:
        LockTimeoutError: the lock stayed busy for `wait_s` seconds.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_s
        delay = 0.02
        waited = False
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                raise LockTimeoutError(f"{path} is held by {held_by}; gave up after {wait_s:g} s")
            if not waited and on_wait:
                on_wait()
            waited = True
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
        try:
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)
