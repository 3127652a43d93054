"""An exclusive lock on a file, held for a ``with`` block, released when the process dies.

``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows. Both locks belong to the
open file, so the operating system drops them if the holder is killed: a crashed
install never leaves a lock that blocks the next one. The lock file itself stays
(deleting it would let two processes lock two different files of the same name).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

_POLL_S = 0.25


@contextmanager
def exclusive(path: Path, on_wait: Callable[[], object] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the block.

    Args:
        path: The lock file.
        on_wait: Called once if another process holds the lock, before waiting for it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        if not _try_lock(fh):
            if on_wait is not None:
                on_wait()
            while not _try_lock(fh):
                time.sleep(_POLL_S)  # polling: a signal (Ctrl-C, SIGTERM) still interrupts the wait
        try:
            yield
        finally:
            _unlock(fh)


if os.name == "nt":
    import msvcrt

    def _try_lock(fh: IO[bytes]) -> bool:
        fh.seek(0)
        try:
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fh: IO[bytes]) -> None:
        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fh: IO[bytes]) -> bool:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fh: IO[bytes]) -> None:
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
