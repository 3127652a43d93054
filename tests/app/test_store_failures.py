"""Database failures: a locked database, a full disk, a corrupt file at start.

The rule: a clear notice, the window stays alive, nothing the user had is lost.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import time

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
            w._on_engine_token_generated(w._request_id, event)
        elapsed = time.monotonic() - start
    finally:
        locker.rollback()
        locker.close()
    assert elapsed < 0.5, f"64 tokens took {elapsed:.2f} s with the database locked"  # busy timeout is 5 s
    w.stop()
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
    w.open_conversation(cid)
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
