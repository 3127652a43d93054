"""Database failures: a locked database, a full disk, a corrupt file at start.

The rule: a clear notice, the window stays alive, nothing the user had is lost.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import threading
import time
from contextlib import contextmanager

import pytest
from PySide6.QtCore import Qt

from app.main_window import MainWindow
from app.state import AppState
from tests.app.fakes import ScriptedBackend

_real_connect = sqlite3.connect


class _Disk:
    full = False


class _FillableConnection(sqlite3.Connection):
    """A real connection whose writes fail as SQLite does on a full disk while ``_Disk.full``."""

    def execute(self, sql, params=(), /):  # type: ignore[override]
        if _Disk.full and sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE", "BEGIN")):
            raise sqlite3.OperationalError("database or disk is full")
        return super().execute(sql, params)


@pytest.fixture
def disk(monkeypatch):
    _Disk.full = False
    monkeypatch.setattr(sqlite3, "connect", functools.partial(_real_connect, factory=_FillableConnection))
    yield _Disk
    _Disk.full = False


def _open(qtbot, backend) -> MainWindow:
    w = MainWindow(backend)
    qtbot.addWidget(w)
    w.show()
    w.load_model("/fake/model")
    qtbot.waitUntil(lambda: w.loaded is not None and w.state is AppState.IDLE, timeout=5000)
    return w


def _db_path(hearth_home):
    return hearth_home / "data" / "conversations.sqlite3"


def _stored_reply(hearth_home) -> tuple[str, int] | None:
    """The last assistant message as another process would see it (no overlay, own connection)."""
    db = _real_connect(str(_db_path(hearth_home)), timeout=0.1)
    try:
        row = db.execute("SELECT content, complete FROM messages WHERE role = 'assistant' "
                         "ORDER BY id DESC LIMIT 1").fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        db.close()
    return (row[0], row[1]) if row else None


def test_a_locked_database_does_not_block_the_gui_thread(qtbot, hearth_home):
    w = _open(qtbot, ScriptedBackend(words=[" slow"] * 500, delay=0.05))
    w.composer.set_text("go")
    qtbot.keyClick(w.composer.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.state is AppState.GENERATING, timeout=5000)
    locker = _real_connect(str(_db_path(hearth_home)), isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # another process holds the database
    try:
        event = ScriptedBackend._event(" tok", 1)
        start = time.monotonic()
        for _ in range(64):  # eight saves' worth of tokens
            w.chats._on_engine_token_generated(w.chats._request_id, event)
        elapsed = time.monotonic() - start
    finally:
        locker.rollback()
        locker.close()
    assert elapsed < 0.5, f"64 tokens took {elapsed:.2f} s with the database locked"  # busy timeout is 5 s
    w.chats.stop()
    qtbot.waitUntil(lambda: w.state is AppState.IDLE, timeout=15000)
    text = w.chat.messages[-1].text
    assert text.count(" tok") == 64
    qtbot.waitUntil(lambda: _stored_reply(hearth_home) == (text, 1), timeout=15000)
    w.close()


def test_a_full_disk_during_a_reply_returns_to_idle_and_saves_the_reply_later(qtbot, hearth_home, disk,
                                                                                 monkeypatch):
    import app.store_writer as store_writer

    monkeypatch.setattr(store_writer, "RETRY_SECONDS", 0.2)
    w = _open(qtbot, ScriptedBackend(words=[f" w{i}" for i in range(40)], delay=0.01))
    w.composer.set_text("go")
    qtbot.keyClick(w.composer.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.state is AppState.GENERATING, timeout=5000)
    disk.full = True
    qtbot.waitUntil(lambda: w.replies_finished == 1, timeout=5000)
    assert w.state is AppState.IDLE
    expected = "".join(f" w{i}" for i in range(40))
    assert w.chat.messages[-1].text == expected  # the reply stays on screen
    assert any("disk" in n.text and "saved" in n.text for n in w.chat.notices)
    assert _stored_reply(hearth_home) != (expected, 1)
    disk.full = False  # room again: the pending write goes through without another write
    qtbot.waitUntil(lambda: _stored_reply(hearth_home) == (expected, 1), timeout=5000)
    w.close()


def test_closing_mid_reply_on_a_full_disk_neither_raises_nor_hangs(qtbot, hearth_home, disk):
    w = _open(qtbot, ScriptedBackend(words=[" slow"] * 500, delay=0.02))
    w.composer.set_text("hi")
    qtbot.keyClick(w.composer.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.state is AppState.GENERATING, timeout=5000)
    disk.full = True
    start = time.monotonic()
    w.close()  # keeps what it can; the window must still go away
    assert time.monotonic() - start < 5


def _corrupt(hearth_home) -> bytes:
    path = _db_path(hearth_home)
    path.parent.mkdir(parents=True)
    junk = b"this is not a database, it was damaged\n" * 500
    path.write_bytes(junk)
    return junk


def test_a_corrupt_database_at_start_is_moved_aside_and_the_app_starts_fresh(qtbot, hearth_home, monkeypatch):
    junk = _corrupt(hearth_home)
    asked: list[str] = []
    monkeypatch.setattr(MainWindow, "_confirm", lambda self, title, text: asked.append(text) or True)
    w = _open(qtbot, ScriptedBackend())
    assert len(asked) == 1 and "Move it aside" in asked[0]
    assert w.conversations.ids() == []
    kept = list(_db_path(hearth_home).parent.glob("conversations.sqlite3.broken-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == junk
    assert any(str(kept[0].name) in n.text for n in w.chat.notices)
    w.composer.set_text("hello again")
    qtbot.keyClick(w.composer.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.replies_finished == 1, timeout=5000)
    w.close()
    qtbot.waitUntil(lambda: _stored_reply(hearth_home) == ("Hello there, friend.", 1), timeout=5000)


def test_declining_the_move_keeps_the_file_untouched_and_the_window_alive(qtbot, hearth_home, monkeypatch):
    junk = _corrupt(hearth_home)
    monkeypatch.setattr(MainWindow, "_confirm", lambda self, title, text: False)
    w = _open(qtbot, ScriptedBackend())
    assert w.conversations.ids() == []
    assert any("not be kept" in n.text for n in w.chat.notices)
    w.composer.set_text("hello")
    qtbot.keyClick(w.composer.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.replies_finished == 1, timeout=5000)
    w.close()
    assert _db_path(hearth_home).read_bytes() == junk
    assert [p.name for p in _db_path(hearth_home).parent.iterdir()] == ["conversations.sqlite3"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can write a read-only file")
def test_a_read_only_database_becomes_a_writable_copy_with_its_history(qtbot, hearth_home, monkeypatch):
    from app.store import Store

    path = _db_path(hearth_home)
    path.parent.mkdir(parents=True)
    old = Store(path)
    cid = old.create_conversation("Kept chat")
    old.add_message(cid, "user", "remember me")
    old.close()
    path.chmod(0o444)
    asked: list[str] = []
    monkeypatch.setattr(MainWindow, "_confirm", lambda self, title, text: asked.append(text) or True)
    w = _open(qtbot, ScriptedBackend())
    assert asked and "read-only" in asked[0]
    assert w.conversations.ids() == [cid]
    kept = list(path.parent.glob("conversations.sqlite3.readonly-*"))
    assert len(kept) == 1 and not os.access(kept[0], os.W_OK)
    w.chats.open_conversation(cid)
    w.composer.set_text("and now?")
    qtbot.keyClick(w.composer.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.replies_finished == 1, timeout=5000)
    w.close()
    assert _stored_reply(hearth_home) == ("Hello there, friend.", 1)


def test_sending_on_a_full_disk_is_a_notice_and_the_text_stays(qtbot, hearth_home, disk):
    w = _open(qtbot, ScriptedBackend())
    disk.full = True
    w.composer.set_text("my long question")
    qtbot.keyClick(w.composer.edit, Qt.Key.Key_Return)
    assert w.state is AppState.IDLE
    assert any("disk is full" in n.text for n in w.chat.notices)
    assert w.composer.edit.toPlainText() == "my long question"
    disk.full = False
    qtbot.keyClick(w.composer.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.replies_finished == 1, timeout=5000)
    w.close()
    assert _stored_reply(hearth_home) == ("Hello there, friend.", 1)


# -- every write the window makes on the GUI thread: a locked database or a full disk -------------

@contextmanager
def _failing(hearth_home, disk, failure: str):
    """Another process holding the database (a real ``BEGIN EXCLUSIVE``), or a full disk."""
    if failure == "full":
        disk.full = True
        try:
            yield
        finally:
            disk.full = False
        return
    locker = _real_connect(str(_db_path(hearth_home)), isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        locker.rollback()
        locker.close()


def _stored_messages(hearth_home) -> list[tuple[str, str]]:
    db = _real_connect(str(_db_path(hearth_home)), timeout=0.1)
    try:
        return [(r[0], r[1]) for r in db.execute("SELECT role, content FROM messages ORDER BY id")]
    finally:
        db.close()


def _chat_started(qtbot, hearth_home) -> MainWindow:
    w = _open(qtbot, ScriptedBackend())
    w.composer.set_text("first question")
    qtbot.keyClick(w.composer.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.replies_finished == 1 and w.state is AppState.IDLE, timeout=5000)
    assert w.store.writer.flush(5)
    return w


def _send_new_chat(w: MainWindow) -> None:
    w.chats.new_chat()
    w.composer.set_text("a new chat")
    w.send(w.composer.edit.toPlainText())


def _edit(w: MainWindow) -> None:
    w.chats.edit(w.chat.messages[0].message_id)
    w.composer.set_text("an edited question")
    w.send(w.composer.edit.toPlainText())


def _rename(w: MainWindow) -> None:
    w._ask_text = lambda *a: "A new name"
    w.chats.rename(w.conversation_id)


def _delete(w: MainWindow) -> None:
    w._confirm = lambda *a: True
    w.chats.delete(w.conversation_id)


ACTIONS = {"send": _send_new_chat, "regenerate": lambda w: w.chats.regenerate(), "edit": _edit, "rename": _rename,
           "delete": _delete}


@pytest.mark.parametrize("failure", ["locked", "full"])
@pytest.mark.parametrize("action", list(ACTIONS))
def test_a_write_that_fails_is_a_quick_notice_and_changes_nothing(qtbot, hearth_home, disk, failure, action):
    w = _chat_started(qtbot, hearth_home)
    cid, before = w.conversation_id, _stored_messages(hearth_home)
    on_screen = [(m.role, m.text) for m in w.chat.messages]
    with _failing(hearth_home, disk, failure):
        start = time.monotonic()
        ACTIONS[action](w)  # must not raise
        elapsed = time.monotonic() - start
    assert elapsed < 0.5, f"{action} took {elapsed:.2f} s on the GUI thread"  # the busy timeout is 5 s
    assert w.state is AppState.IDLE
    problem = "locked" if failure == "locked" else "disk is full"
    assert any(problem in n.text for n in w.chat.notices), [n.text for n in w.chat.notices]
    assert _stored_messages(hearth_home) == before  # nothing half done
    assert w.conversations.ids() == [cid] and w.store.conversation(cid).title == "first question"
    if action == "send":
        assert w.composer.edit.toPlainText() == "a new chat" and w.chat.messages == []
    else:
        assert w.conversation_id == cid and [(m.role, m.text) for m in w.chat.messages] == on_screen
    if action == "edit":
        assert w.composer.edit.toPlainText() == "an edited question" and w.composer.editing_message is not None
    ACTIONS[action](w)  # the database is free again: the same command now works
    if action in ("send", "regenerate", "edit"):
        qtbot.waitUntil(lambda: w.replies_finished == 2 and w.state is AppState.IDLE, timeout=5000)
    assert w.store.writer.flush(5)
    shown = [(m.role, m.text) for m in w.chat.messages]
    assert shown == ([(m.role, m.content) for m in w.store.messages(w.conversation_id)] if w.conversation_id else [])
    w.close()


class _HeldBackend(ScriptedBackend):
    """Holds its reply until ``release``, so the test can end it with an error of its own first."""

    def __init__(self) -> None:
        super().__init__(words=[" late"])
        self.release = threading.Event()

    def _events(self, cancel, on_prefill):
        self.release.wait(10)
        yield from super()._events(cancel, on_prefill)


@pytest.mark.parametrize("failure", ["locked", "full"])
def test_an_empty_reply_that_failed_is_dropped_without_blocking_and_later_from_disk(qtbot, hearth_home, disk,
                                                                                    failure, monkeypatch):
    import app.store_writer as store_writer

    monkeypatch.setattr(store_writer, "RETRY_SECONDS", 0.2)
    backend = _HeldBackend()
    w = _open(qtbot, backend)
    w.composer.set_text("go")
    qtbot.keyClick(w.composer.edit, Qt.Key.Key_Return)
    assert w.state is AppState.PREFILLING and w.chats._reply_text == ""
    with _failing(hearth_home, disk, failure):
        start = time.monotonic()
        w.chats._on_engine_generation_finished(w.chats._request_id, ScriptedBackend._event("", 0, "error", error="boom"))
        elapsed = time.monotonic() - start
        assert elapsed < 0.5, f"dropping the reply took {elapsed:.2f} s on the GUI thread"
        assert w.state is AppState.IDLE
        assert [(m.role, m.text) for m in w.chat.messages] == [("user", "go")]
        assert [m.role for m in w.store.messages(w.conversation_id)] == ["user"]
    qtbot.waitUntil(lambda: _stored_messages(hearth_home) == [("user", "go")], timeout=10_000)
    backend.release.set()  # the engine's own late events are ignored; its thread ends before the window
    w.close()


def test_search_finds_reply_text_that_is_not_saved_yet(tmp_path):
    from app.store import Store

    store = Store(tmp_path / "c.sqlite3")
    cid = store.create_conversation("Animals")
    store.add_message(cid, "user", "tell me something")
    reply = store.add_message(cid, "assistant", "", complete=False)
    locker = _real_connect(str(tmp_path / "c.sqlite3"), isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # the writer thread cannot save it
    try:
        store.update_message(reply, "Wombats have cube-shaped droppings.")
        assert [c.id for c in store.conversations("CUBE-shaped")] == [cid]
    finally:
        locker.rollback()
        locker.close()
        store.close()


def test_a_queued_update_never_lands_on_a_reply_whose_id_was_handed_out_again(tmp_path):
    from app.store import Store

    path = tmp_path / "c.sqlite3"
    store = Store(path)
    cid = store.create_conversation("Race")
    store.add_message(cid, "user", "hi")
    old = store.add_message(cid, "assistant", "", complete=False)
    locker = _real_connect(str(path), isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    store.update_message(old, "the old reply", finish_reason="stop", complete=True)
    time.sleep(0.3)  # the writer is now waiting for the lock with that update in hand
    locker.rollback()
    locker.close()
    store.delete_messages_from(cid, old)  # a delete wins the lock; SQLite reuses the id
    new = store.add_message(cid, "assistant", "", "m", complete=False)
    assert new == old
    assert store.writer.flush(5)
    store.close()
    db = _real_connect(str(path))
    try:
        assert db.execute("SELECT content, complete FROM messages WHERE id = ?", (new,)).fetchone() == ("", 0)
    finally:
        db.close()
