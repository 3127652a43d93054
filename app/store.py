"""Saved conversations: SQLite (WAL) in data_dir(), stdlib only.

Conversations hold messages; user messages may hold attachments (the extracted text
and where it came from, so the prompt can be rebuilt without the original file);
assistant messages hold their stats and the model that wrote them. A reply is
written while it streams (see ``update_message``), so a crash keeps everything up to
the last write. Those updates go through a writer thread (``StoreWriter``): a locked
database or a full disk delays them but never blocks or breaks the window.

Every other write (new chat, message, edit, regenerate, rename, delete) stays on the GUI
thread, because the window needs its outcome at once (the new row ids, or the certainty
that nothing changed). Its connection waits at most ``GUI_BUSY_TIMEOUT_SECONDS`` for a
lock, and each command is one transaction: it either happens whole or raises
``sqlite3.Error`` having changed nothing, which the window turns into a notice (see
``database_guarded``) while the user's text stays in the composer. Moving these writes to
the writer thread too would need ids handed out ahead of the database and an in-memory
overlay of chats that may never be written; a short timeout gives the same "never stuck"
rule with far less code. Only the streamed text, which must not be lost, is retried.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.reply_sources import ReplySources, decode as decode_sources
from app.store_schema import upgrade
from app.store_writer import PendingUpdate, StoreWriter
from app.token_probs import ReplyToken, decode
from engine.core import paths
from engine.documents import Document, Span

GUI_BUSY_TIMEOUT_SECONDS = 0.15  # the longest the window waits for another program's lock

@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    updated: float
    created: float = 0.0


@dataclass(frozen=True)
class Attachment:
    name: str
    path: str
    kind: str
    text: str
    spans: tuple[tuple[int, int, int, int], ...]
    tokens: int
    id: int = 0

    @classmethod
    def of(cls, doc: Document, tokens: int) -> Attachment:
        spans = tuple((s.start, s.end, s.first, s.last) for s in doc.pages)
        return cls(doc.name, str(doc.path), doc.kind, doc.text, spans, tokens)

    def document(self) -> Document:
        """The document again, to rebuild the prompt without the original file."""
        spans = tuple(Span(*s) for s in self.spans)
        return Document(self.name, Path(self.path), self.kind, self.text, spans, len(self.text))  # type: ignore[arg-type]


@dataclass(frozen=True)
class StoredMessage:
    id: int
    conversation_id: int
    role: str
    content: str
    model: str = ""
    stats: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    finish_reason: str | None = None
    complete: bool = True
    attachments: tuple[Attachment, ...] = ()
    parent_id: int | None = None
    versions: tuple[int, ...] = ()  # ids of this message and its siblings (same parent), oldest first
    origin: str = ""  # where a reply ran: the model folder, or remote://provider/model ("" before v2)
    # The reply's tokens and probabilities as stored (JSON) or pending (a tuple); read with ``tokens()``.
    token_probs: str | tuple[ReplyToken, ...] | None = field(default=None, compare=False, hash=False, repr=False)
    # What the reply was shown of the documents, as stored (JSON) or pending; read with ``sources()``.
    sources_json: str | ReplySources | None = field(default=None, compare=False, hash=False, repr=False)

    def tokens(self) -> tuple[ReplyToken, ...]:
        """The reply's tokens with their probabilities, decoded when asked (the JSON can be long)."""
        return decode(self.token_probs)

    def sources(self) -> ReplySources:
        """The excerpts the reply was shown and what was left out, decoded when asked."""
        return decode_sources(self.sources_json)

    @property
    def version(self) -> int:
        """1-based place among ``versions``."""
        return self.versions.index(self.id) + 1 if self.id in self.versions else 1


@dataclass(frozen=True)
class Exchange:
    """What ``begin_exchange`` wrote: the chat, the user's message and the empty reply."""

    conversation_id: int
    message_id: int
    reply_id: int


def default_path() -> Path:
    return paths.data_dir() / "conversations.sqlite3"


class Store:
    """One connection used from the GUI thread, plus a writer thread for streamed replies.

    Raises ``sqlite3.Error`` if the file is not a usable database (see app/recovery.py).
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(self.path), isolation_level=None, timeout=GUI_BUSY_TIMEOUT_SECONDS)
        try:
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            upgrade(self.db)
        except BaseException:
            self.db.close()  # so the caller may move the file aside
            raise
        self._dropped: dict[int, PendingUpdate] = {}  # what the open transaction made the writer forget
        self.writer = StoreWriter(self.path)

    def close(self, timeout: float = 2.0) -> bool:
        """Write pending reply updates (for at most ``timeout``) and close; True if all were saved."""
        saved = self.writer.close(timeout)
        self.db.close()
        return saved

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One GUI-thread command: all of it or nothing, waiting at most the short busy timeout."""
        self.db.execute("BEGIN IMMEDIATE")  # the write lock now, so no later statement waits for it
        try:
            yield
            self.db.execute("COMMIT")
        except BaseException:
            self.writer.restore(self._dropped)  # the rows stay, so their pending text does too
            if self.db.in_transaction:
                with suppress(sqlite3.Error):
                    self.db.execute("ROLLBACK")
            raise
        finally:
            self._dropped = {}

    # -- conversations ---------------------------------------------------------------
    def create_conversation(self, title: str) -> int:
        with self._transaction():
            return self._insert_conversation(title)

    def _insert_conversation(self, title: str) -> int:
        now = time.time()
        cur = self.db.execute("INSERT INTO conversations(title, created, updated) VALUES (?, ?, ?)", (title, now, now))
        return int(cur.lastrowid)

    def conversations(self, search: str = "") -> list[Conversation]:
        """Newest first; ``search`` matches titles and message text, including text not saved yet."""
        if search.strip():
            pattern = f"%{_escape_like(search.strip())}%"
            rows = self.db.execute(
                "SELECT id, title, updated, created FROM conversations WHERE title LIKE ?1 ESCAPE '\\' OR id IN "
                "(SELECT conversation_id FROM messages WHERE content LIKE ?1 ESCAPE '\\') "
                "OR id IN (SELECT value FROM json_each(?2)) ORDER BY updated DESC, id DESC",
                (pattern, json.dumps(self._unsaved_matches(search.strip()))),
            )
        else:
            rows = self.db.execute("SELECT id, title, updated, created FROM conversations ORDER BY updated DESC, id DESC")
        return [Conversation(r["id"], r["title"], r["updated"], r["created"]) for r in rows]

    def conversation(self, conversation_id: int) -> Conversation | None:
        r = self.db.execute("SELECT id, title, updated, created FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
        return Conversation(r["id"], r["title"], r["updated"], r["created"]) if r else None

    def _unsaved_matches(self, needle: str) -> list[int]:
        """Chats whose pending reply text (still on its way to disk) contains ``needle``."""
        folded = needle.casefold()
        ids = [i for i, u in self.writer.pending().items() if not u.deleted and folded in u.content.casefold()]
        if not ids:
            return []
        rows = self.db.execute("SELECT DISTINCT conversation_id FROM messages WHERE id IN "
                               "(SELECT value FROM json_each(?))", (json.dumps(ids),))
        return [r[0] for r in rows]

    def rename_conversation(self, conversation_id: int, title: str) -> None:
        with self._transaction():
            self.db.execute("UPDATE conversations SET title = ? WHERE id = ?", (title, conversation_id))

    def delete_conversation(self, conversation_id: int) -> None:
        with self._transaction():
            self._forget("conversation_id = ?", (conversation_id,))
            self.db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    def _forget(self, where: str, params: tuple[int, ...]) -> None:
        """Inside a transaction (we hold the write lock, see app/store_writer.py)."""
        ids = [r[0] for r in self.db.execute(f"SELECT id FROM messages WHERE {where}", params)]
        self._dropped.update(self.writer.forget(ids))

    def _touch(self, conversation_id: int) -> None:
        self.db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (time.time(), conversation_id))

    # -- messages --------------------------------------------------------------------
    def add_message(
        self,
        conversation_id: int,
        role: str,
        content: str,
        model: str = "",
        complete: bool = True,
        attachments: tuple[Attachment, ...] = (),
    ) -> int:
        """Add a message after the last one of the branch on screen."""
        with self._transaction():
            parent = self._leaf(conversation_id)
            return self._insert_message(conversation_id, parent, role, content, model, complete, attachments)

    def begin_exchange(self, conversation_id: int | None, title: str, text: str, model: str,
                       attachments: tuple[Attachment, ...] = (), replace_from: int | None = None,
                       retitle: bool = False, origin: str = "") -> Exchange:
        """Send, in one transaction: the chat (new if ``conversation_id`` is None, named ``title``),
        the user's message and an empty reply. An edit (``replace_from``) branches: the new
        message is a sibling of ``replace_from``, whose turns stay as the other version.
        ``retitle`` renames the chat to ``title`` (its first message was edited); ``origin``: where
        the reply runs (see ``StoredMessage.origin``)."""
        with self._transaction():
            if conversation_id is None:
                conversation_id = self._insert_conversation(title)
                parent = None
            elif replace_from is not None:
                parent = self._parent_of(replace_from)
            else:
                parent = self._leaf(conversation_id)
            if retitle:
                self.db.execute("UPDATE conversations SET title = ? WHERE id = ?", (title, conversation_id))
            message_id = self._insert_message(conversation_id, parent, "user", text, attachments=attachments)
            reply_id = self._insert_message(conversation_id, message_id, "assistant", "", model, complete=False,
                                            origin=origin)
        return Exchange(conversation_id, message_id, reply_id)

    def restart_reply(self, conversation_id: int, reply_id: int, model: str, origin: str = "") -> int:
        """Regenerate: a new empty reply beside ``reply_id``, which stays as another version."""
        with self._transaction():
            return self._insert_message(conversation_id, self._parent_of(reply_id), "assistant", "", model,
                                        complete=False, origin=origin)

    def select_version(self, conversation_id: int, message_id: int) -> None:
        """Show the branch through ``message_id`` (down its newest replies)."""
        with self._transaction():
            leaf = message_id
            while True:
                child = self.db.execute("SELECT MAX(id) FROM messages WHERE parent_id = ?", (leaf,)).fetchone()[0]
                if child is None:
                    break
                leaf = int(child)
            self.db.execute("UPDATE conversations SET leaf_id = ? WHERE id = ?", (leaf, conversation_id))

    def drop_reply(self, message_id: int) -> None:
        """Forget a reply that failed before its first word; queued like its updates, so it never raises."""
        self.writer.delete_message(message_id)

    def _parent_of(self, message_id: int) -> int | None:
        row = self.db.execute("SELECT parent_id FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            raise ValueError(f"no message {message_id}")
        return row[0]

    def _leaf(self, conversation_id: int) -> int | None:
        path = self._path(conversation_id)
        return path[-1]["id"] if path else None

    def _insert_message(self, conversation_id: int, parent_id: int | None, role: str, content: str,
                        model: str = "", complete: bool = True, attachments: tuple[Attachment, ...] = (),
                        origin: str = "") -> int:
        cur = self.db.execute(
            "INSERT INTO messages(conversation_id, parent_id, role, content, created, model, complete, origin) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (conversation_id, parent_id, role, content, time.time(), model, int(complete), origin),
        )
        message_id = int(cur.lastrowid)
        for a in attachments:
            self.db.execute(
                "INSERT INTO attachments(message_id, name, path, kind, text, spans, tokens) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (message_id, a.name, a.path, a.kind, a.text, json.dumps(a.spans), a.tokens),
            )
        self.db.execute("UPDATE conversations SET leaf_id = ? WHERE id = ?", (message_id, conversation_id))
        self._touch(conversation_id)
        return message_id

    def update_message(
        self,
        message_id: int,
        content: str,
        stats: dict[str, Any] | None = None,
        finish_reason: str | None = None,
        complete: bool = False,
        tokens: tuple[ReplyToken, ...] | None = None,
        sources: ReplySources | None = None,
    ) -> None:
        """Queued for the writer thread: returns at once and never raises for the database.

        ``tokens``: the reply's tokens so far; ``sources``: what it was shown of the documents
        (``None`` keeps the stored ones)."""
        self.writer.update_message(message_id, content, stats, finish_reason, complete, tokens, sources)

    def _path(self, conversation_id: int) -> list[sqlite3.Row]:
        """The rows of the branch on screen, first to last (pending deletes left out)."""
        rows = {r["id"]: r for r in self.db.execute("SELECT * FROM messages WHERE conversation_id = ?",
                                                     (conversation_id,))}
        gone = {i for i, u in self.writer.pending().items() if u.deleted}
        conv = self.db.execute("SELECT leaf_id FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
        leaf = conv["leaf_id"] if conv is not None else None
        if leaf not in rows:
            leaf = max(rows, default=None)  # written without a leaf: the newest message
        path: list[sqlite3.Row] = []
        while leaf is not None and leaf in rows:
            if leaf not in gone:
                path.append(rows[leaf])
            leaf = rows[leaf]["parent_id"]
        return path[::-1]

    def messages(self, conversation_id: int) -> list[StoredMessage]:
        """The branch on screen; each message knows its versions (itself and its siblings)."""
        # Pending updates first: the writer drops one only after committing it, so a row read
        # after this is at least as new. Read the other way round, a commit landing between
        # the two reads showed the row as it was before the update.
        pending = self.writer.pending()  # not written yet: show it as it will be
        path = self._path(conversation_id)
        attached: dict[int, list[Attachment]] = {}
        for a in self.db.execute(
            "SELECT a.* FROM attachments a JOIN messages m ON a.message_id = m.id WHERE m.conversation_id = ? "
            "ORDER BY a.id",
            (conversation_id,),
        ):
            spans = tuple(tuple(s) for s in json.loads(a["spans"]))
            attached.setdefault(a["message_id"], []).append(
                Attachment(a["name"], a["path"], a["kind"], a["text"], spans, a["tokens"], a["id"])  # type: ignore[arg-type]
            )
        siblings: dict[int | None, list[int]] = {}
        for r in self.db.execute("SELECT id, parent_id FROM messages WHERE conversation_id = ? ORDER BY id",
                                 (conversation_id,)):
            if not (r["id"] in pending and pending[r["id"]].deleted):
                siblings.setdefault(r["parent_id"], []).append(r["id"])
        found = []
        for r in path:
            content, stats, finish, complete = r["content"], json.loads(r["stats"] or "{}"), r["finish_reason"], r["complete"]
            probs, sources = r["token_probs"], r["sources"]
            if r["id"] in pending:
                u = pending[r["id"]]
                content, finish, complete = u.content, u.finish_reason, u.complete
                stats = u.stats if u.stats is not None else stats
                probs = u.tokens if u.tokens is not None else probs
                sources = u.sources if u.sources is not None else sources
            found.append(StoredMessage(r["id"], r["conversation_id"], r["role"], content, r["model"], stats,
                                       finish, bool(complete), tuple(attached.get(r["id"], ())), r["parent_id"],
                                       tuple(siblings.get(r["parent_id"], (r["id"],))), r["origin"], probs,
                                       sources))
        return found

    def delete_messages_from(self, conversation_id: int, message_id: int) -> None:
        """Forget ``message_id`` and everything after it."""
        with self._transaction():
            self._delete_from(conversation_id, message_id)

    def _delete_from(self, conversation_id: int, message_id: int) -> None:
        self._forget("conversation_id = ? AND id >= ?", (conversation_id, message_id))
        self.db.execute("DELETE FROM messages WHERE conversation_id = ? AND id >= ?", (conversation_id, message_id))
        self._touch(conversation_id)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
