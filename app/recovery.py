"""When the conversations database fails: open it anyway, or move it aside, and tell the user.

A corrupt file is never deleted: with the user's consent it is renamed with a timestamp
(with its -wal and -shm files) and Hearth starts with an empty history. A read-only file
is renamed the same way and a writable copy takes its place, so the history stays and
new chats can be saved. If the user declines, or the move fails, the file is left
untouched and this session uses a temporary database. Failed writes while running reach
the chat as notices through ``StoreAlerts``.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import sqlite3
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal, Slot

from app.store import Store, default_path
from app.store_writer import describe

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

Confirm = Callable[[str, str], bool]  # (title, question) -> yes


def open_store(confirm: Confirm, path: Path | None = None) -> tuple[Store, str | None]:
    """A working store, and a notice for the user if the usual one could not be used."""
    path = path or default_path()
    try:
        return _checked(path), None
    except sqlite3.Error as exc:
        problem = describe(exc)
        log.warning("cannot open %s: %s", path, exc)
    readonly = problem == "the database is read-only"
    aside = _aside_name(path, "readonly" if readonly else "broken")
    if readonly:
        question = (f"Your conversations database is read-only, so Hearth cannot save new chats in it.\n\n"
                    f"Move it aside and start fresh from a writable copy? Your history is kept, and the "
                    f"read-only file stays next to it as {aside.name}.")
    else:
        question = (f"Hearth cannot open your conversations database ({problem}).\n\n"
                    f"Move it aside and start fresh with an empty history? The old file is kept next to "
                    f"it as {aside.name}, so nothing is deleted.")
    if confirm("Conversations database", question):
        try:
            _move_aside(path, aside)
            if readonly:
                shutil.copyfile(aside, path)
                os.chmod(path, stat.S_IMODE(os.stat(path).st_mode) | stat.S_IWUSR)
            store = _checked(path)
        except (OSError, sqlite3.Error) as exc:
            log.warning("could not start fresh at %s: %s", path, exc)
            problem = f"{problem}; moving it aside failed: {exc}"
        else:
            kept = "with your history, from a writable copy" if readonly else "with an empty history"
            return store, f"Hearth started {kept}. The old conversations database was kept as {aside}."
    session = Path(tempfile.mkdtemp(prefix="hearth-session-")) / path.name
    return Store(session), (f"Your conversations database could not be used ({problem}). It was left "
                            f"untouched at {path}; chats in this session will not be kept.")


def _checked(path: Path) -> Store:
    """Open ``path`` and make sure its pages read back; raises ``sqlite3.Error`` if not."""
    if path.exists() and not os.access(path, os.W_OK):
        # SQLite would open it and fail only at the first save; ask now instead.
        raise sqlite3.OperationalError("attempt to write a readonly database")
    store = Store(path)
    try:
        result = store.db.execute("PRAGMA quick_check(1)").fetchone()[0]
        if result != "ok":
            raise sqlite3.DatabaseError(f"the file is damaged: {result}")
    except BaseException:
        store.close(timeout=0)
        raise
    return store


def _aside_name(path: Path, why: str) -> Path:
    return path.with_name(f"{path.name}.{why}-{time.strftime('%Y%m%d-%H%M%S')}")


def _move_aside(path: Path, aside: Path) -> None:
    """Rename the database and its WAL files (the WAL may hold recent chats) together."""
    if aside.exists():
        raise FileExistsError(aside)
    path.rename(aside)
    for suffix in ("-wal", "-shm"):
        extra = path.with_name(path.name + suffix)
        if extra.exists():
            extra.rename(aside.with_name(aside.name + suffix))


def database_guarded(notice: str) -> Callable[[F], F]:
    """For window commands that write on the GUI thread (send, regenerate, rename, delete):
    a failed write becomes ``notice`` (``{problem}`` is filled in) instead of an exception in
    a slot. Each command writes in one transaction before it changes anything on screen, so
    a failure leaves the window and the database as they were (see app/store.py)."""

    def decorate(method: F) -> F:
        @functools.wraps(method)
        def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except sqlite3.Error as exc:
                log.warning("%s failed: %s", method.__name__, exc)
                self.chat.add_notice(notice.format(problem=describe(exc)))
                return None

        return guarded  # type: ignore[return-value]

    return decorate


class StoreAlerts(QObject):
    """Brings the writer thread's news to the GUI thread as notices."""

    _failed = Signal(str)
    _recovered = Signal()

    def __init__(self, store: Store, notify: Callable[[str, str], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._notify = notify
        self._failed.connect(self._on_writer_failed)
        self._recovered.connect(self._on_writer_recovered)
        store.writer.on_failed = self._failed.emit  # emitted on the writer thread, delivered queued
        store.writer.on_recovered = self._recovered.emit

    @Slot(str)
    def _on_writer_failed(self, problem: str) -> None:
        where = "as soon as there is room" if problem == "the disk is full" else "as soon as it can"
        self._notify(f"The reply could not be saved: {problem}. It stays here and will be saved {where}.",
                     "error")

    @Slot()
    def _on_writer_recovered(self) -> None:
        self._notify("The reply that was waiting has now been saved.", "info")
