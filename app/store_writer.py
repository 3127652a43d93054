"""Writes streamed replies on a thread of its own, so a slow database never stalls the window.

The thread owns its own SQLite connection. Updates are coalesced per message (only the
newest text matters) and stay pending until they are committed: a locked database or a
full disk only delays them. Pending updates are retried on the next update or after
``RETRY_SECONDS``, and ``Store.messages`` shows them meanwhile, so nothing on screen is
lost. Dropping a reply that failed before its first word is queued the same way.

The thread takes its batch only once it holds the database's write lock, and the GUI
thread forgets updates of messages it deletes while it holds that lock: so an update
never lands on a row that was deleted and whose id was handed out again.
Stdlib only; the window hears about failures through plain callbacks.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app import reply_sources
from app.reply_sources import ReplySources
from app.token_probs import ReplyToken, encode

log = logging.getLogger(__name__)

RETRY_SECONDS = 2.0  # how soon a failed write is tried again when nothing new arrives
BUSY_TIMEOUT_SECONDS = 5.0  # waiting for a locked database happens here, never on the GUI thread


@dataclass(frozen=True)
class PendingUpdate:
    content: str
    stats: dict[str, Any] | None
    finish_reason: str | None
    complete: bool
    deleted: bool = False  # drop the row instead
    tokens: tuple[ReplyToken, ...] | None = None  # None: keep the stored ones; encoded on the writer thread
    sources: ReplySources | None = None  # None: keep the stored ones; encoded on the writer thread


class StoreWriter:
    """One thread, one connection, a dict of pending message updates."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.on_failed: Callable[[str], None] | None = None  # called on the writer thread
        self.on_recovered: Callable[[], None] | None = None
        self._pending: dict[int, PendingUpdate] = {}
        self._cond = threading.Condition()
        self._closing = False
        self._failing = False
        self._busy = False  # a batch is being written
        self._thread = threading.Thread(target=self._run, name="hearth-store-writer", daemon=True)
        self._thread.start()

    # -- called from the GUI thread ------------------------------------------------------
    def update_message(self, message_id: int, content: str, stats: dict[str, Any] | None = None,
                       finish_reason: str | None = None, complete: bool = False,
                       tokens: tuple[ReplyToken, ...] | None = None, sources: ReplySources | None = None) -> None:
        with self._cond:
            old = self._pending.get(message_id)
            if old is not None and old.deleted:
                return  # already on its way out
            if old is not None:  # the database's COALESCE, applied before it gets there
                stats = old.stats if stats is None else stats
                tokens = old.tokens if tokens is None else tokens
                sources = old.sources if sources is None else sources
            self._pending[message_id] = PendingUpdate(content, stats, finish_reason, complete, tokens=tokens,
                                                      sources=sources)
            self._cond.notify_all()

    def delete_message(self, message_id: int) -> None:
        """Queue dropping a message (an empty reply that failed); ``Store.messages`` hides it meanwhile."""
        with self._cond:
            self._pending[message_id] = PendingUpdate("", None, None, True, deleted=True)
            self._cond.notify_all()

    def pending(self) -> dict[int, PendingUpdate]:
        with self._cond:
            return dict(self._pending)

    def forget(self, message_ids: list[int]) -> dict[int, PendingUpdate]:
        """Drop updates for messages being deleted, so they never land on a reused id.

        Call it while holding the write lock; returns what was dropped, for ``restore``."""
        with self._cond:
            return {i: self._pending.pop(i) for i in message_ids if i in self._pending}

    def restore(self, dropped: dict[int, PendingUpdate]) -> None:
        """The delete that forgot these did not happen after all: keep them (unless newer ones came)."""
        with self._cond:
            for message_id, update in dropped.items():
                self._pending.setdefault(message_id, update)
            self._cond.notify_all()

    def flush(self, timeout: float) -> bool:
        """Wait until everything is written (or ``timeout``); True if nothing is left."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._cond.notify_all()
            while self._pending or self._busy:
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return False
                self._cond.wait(min(left, 0.05))
            return True

    def close(self, timeout: float = 2.0) -> bool:
        """Write what can be written within ``timeout`` and stop; True if nothing was left."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)
        left = self.pending()
        if left:
            log.warning("%d reply updates could not be saved before closing", len(left))
        return not left

    # -- the writer thread -----------------------------------------------------------------
    def _run(self) -> None:
        try:
            db = sqlite3.connect(str(self.path), isolation_level=None, timeout=BUSY_TIMEOUT_SECONDS,
                                 check_same_thread=False)
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            self._report_failure(exc)
            return
        try:
            self._loop(db)
        finally:
            db.close()

    def _loop(self, db: sqlite3.Connection) -> None:
        while True:
            with self._cond:
                if self._failing and self._pending and not self._closing:
                    self._cond.wait(RETRY_SECONDS)  # a new update or the timer retries
                while not self._pending and not self._closing:
                    self._cond.wait()
                if not self._pending:
                    return  # closing, all written
            try:
                batch = _write(db, self._take)
            except sqlite3.Error as exc:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
                    first = not self._failing
                    self._failing = True
                    closing = self._closing
                if first:
                    self._report_failure(exc)
                if closing:
                    return  # one last try was made; the window is going away
                continue
            with self._cond:
                for message_id, update in batch.items():
                    if self._pending.get(message_id) is update:
                        del self._pending[message_id]
                self._busy = False
                recovered = self._failing
                self._failing = False
                self._cond.notify_all()
            if recovered and self.on_recovered is not None:
                self.on_recovered()

    def _take(self) -> dict[int, PendingUpdate]:
        """The batch to write, taken while this thread holds the write lock (see the module doc)."""
        with self._cond:
            self._busy = True
            return dict(self._pending)

    def _report_failure(self, exc: sqlite3.Error) -> None:
        log.warning("could not save to %s: %s", self.path, exc)
        if self.on_failed is not None:
            self.on_failed(describe(exc))


def _write(db: sqlite3.Connection, take: Callable[[], dict[int, PendingUpdate]]) -> dict[int, PendingUpdate]:
    db.execute("BEGIN IMMEDIATE")
    try:
        batch = take()
        for message_id, u in batch.items():
            if u.deleted:  # the branch on screen now ends one message earlier
                db.execute("UPDATE conversations SET leaf_id = (SELECT parent_id FROM messages WHERE id = ?1) "
                           "WHERE leaf_id = ?1", (message_id,))
                db.execute("DELETE FROM messages WHERE id = ?", (message_id,))
                continue
            db.execute(
                "UPDATE messages SET content = ?, stats = COALESCE(?, stats), finish_reason = ?, complete = ?, "
                "token_probs = COALESCE(?, token_probs), sources = COALESCE(?, sources) WHERE id = ?",
                (u.content, json.dumps(u.stats) if u.stats is not None else None, u.finish_reason,
                 int(u.complete), encode(u.tokens) if u.tokens is not None else None,
                 reply_sources.encode(u.sources) if u.sources is not None else None, message_id),
            )
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return batch


def describe(exc: sqlite3.Error) -> str:
    """A database error in the user's words."""
    text = str(exc).lower()
    if "full" in text:
        return "the disk is full"
    if "locked" in text or "busy" in text:
        return "the database is locked by another program"
    if "readonly" in text or "read-only" in text:
        return "the database is read-only"
    return str(exc)
