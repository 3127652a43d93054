"""Database upgrades: a file written by the schema before versions (user_version 0) opens
with its history intact, as one straight branch, and takes new messages after it."""

from __future__ import annotations

import sqlite3

from app.store import Store
from app.store_schema import VERSION, version_of

# app/store.py's SCHEMA as it was before migrations existed (main at 23fe720), copied verbatim.
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    created REAL NOT NULL,
    model TEXT NOT NULL DEFAULT '',
    stats TEXT NOT NULL DEFAULT '{}',
    finish_reason TEXT,
    complete INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages(conversation_id, id);
CREATE TABLE IF NOT EXISTS attachments (
    id INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    spans TEXT NOT NULL,
    tokens INTEGER NOT NULL
);
"""


def _old_database(path) -> None:
    db = sqlite3.connect(str(path))
    db.executescript(OLD_SCHEMA)
    db.execute("INSERT INTO conversations VALUES (1, 'Trip plans', 100.0, 200.0)")
    db.execute("INSERT INTO conversations VALUES (2, 'Recipes', 110.0, 150.0)")
    rows = [  # interleaved ids, as two chats written turn by turn
        (1, 1, "user", "what should I pack?", 100.0, "", "{}", None, 1),
        (2, 2, "user", "boil an egg?", 110.0, "", "{}", None, 1),
        (3, 1, "assistant", "A towel.", 101.0, "SmolLM2", '{"decode_tps": 40.0}', "stop", 1),
        (4, 2, "assistant", "Nine minut", 111.0, "SmolLM2", "{}", None, 0),
        (5, 1, "user", "and for rain?", 120.0, "", "{}", None, 1),
        (6, 1, "assistant", "An umbrella.", 121.0, "SmolLM2", "{}", "length", 1),
    ]
    db.executemany("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.execute("INSERT INTO attachments VALUES (1, 1, 'list.txt', '/x/list.txt', 'text', 'towel', '[[0, 5, 1, 1]]', 2)")
    db.commit()
    assert version_of(db) == 0
    db.close()


def test_a_database_from_before_versions_opens_with_its_history_intact(tmp_path):
    path = tmp_path / "conversations.sqlite3"
    _old_database(path)
    store = Store(path)
    assert version_of(store.db) == VERSION
    assert [(c.id, c.title) for c in store.conversations()] == [(1, "Trip plans"), (2, "Recipes")]
    trip = store.messages(1)
    assert [(m.role, m.content) for m in trip] == [
        ("user", "what should I pack?"), ("assistant", "A towel."), ("user", "and for rain?"),
        ("assistant", "An umbrella.")]
    assert trip[0].attachments[0].text == "towel" and trip[0].attachments[0].spans == ((0, 5, 1, 1),)
    assert trip[1].stats == {"decode_tps": 40.0} and trip[3].finish_reason == "length"
    assert all(len(m.versions) == 1 for m in trip)
    assert [(m.content, m.complete) for m in store.messages(2)] == [("boil an egg?", True), ("Nine minut", False)]
    # The upgraded chat goes on, and branches, like a new one.
    new = store.restart_reply(1, trip[3].id, "SmolLM2")
    assert [m.id for m in store.messages(1)][-1] == new and store.messages(1)[-1].versions == (trip[3].id, new)
    store.close()
    reopened = Store(path)  # a second open runs no migration again
    assert version_of(reopened.db) == VERSION and len(reopened.messages(1)) == 4
    reopened.close()


def test_a_failed_upgrade_leaves_the_old_file_as_it_was(tmp_path, monkeypatch):
    import app.store_schema as schema

    path = tmp_path / "conversations.sqlite3"
    _old_database(path)
    broken = (schema.MIGRATIONS[0][:2] + ("THIS IS NOT SQL",),)
    monkeypatch.setattr(schema, "MIGRATIONS", broken)
    try:
        Store(path)
    except sqlite3.Error:
        pass
    else:
        raise AssertionError("the broken migration should have failed")
    db = sqlite3.connect(str(path))
    assert version_of(db) == 0
    assert "parent_id" not in [r[1] for r in db.execute("PRAGMA table_info(messages)")]
    assert db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 6
    db.close()


def _version_1_database(path) -> None:
    """A file as Hearth wrote it at version 1 (branches, no origin), with a regenerated reply."""
    import app.store_schema as schema

    _old_database(path)
    db = sqlite3.connect(str(path), isolation_level=None)
    for statement in schema.MIGRATIONS[0]:
        db.execute(statement)
    db.execute("PRAGMA user_version = 1")
    # A second version of the last reply of chat 1 (a regenerate), shown on screen.
    db.execute("INSERT INTO messages(id, conversation_id, role, content, created, model, stats, finish_reason, "
               "complete, parent_id) VALUES (7, 1, 'assistant', 'Boots.', 122.0, 'SmolLM2', '{}', 'stop', 1, 5)")
    db.execute("UPDATE conversations SET leaf_id = 7 WHERE id = 1")
    assert "origin" not in [r[1] for r in db.execute("PRAGMA table_info(messages)")]
    db.close()


def test_a_version_1_database_keeps_its_history_and_records_where_new_replies_ran(tmp_path):
    path = tmp_path / "conversations.sqlite3"
    _version_1_database(path)
    store = Store(path)
    assert version_of(store.db) == VERSION
    trip = store.messages(1)
    assert [m.content for m in trip] == ["what should I pack?", "A towel.", "and for rain?", "Boots."]
    assert trip[-1].versions == (6, 7) and trip[1].stats == {"decode_tps": 40.0}
    assert all(m.origin == "" for m in trip)  # written before origins were recorded
    assert trip[0].attachments[0].text == "towel"
    sent = store.begin_exchange(1, "", "and for snow?", "SmolLM2-135M-Instruct",
                                origin="remote://gpu-box/SmolLM2-135M-Instruct")
    again = store.restart_reply(1, sent.reply_id, "SmolLM2", origin="/models/SmolLM2")
    store.close()
    reopened = Store(path)
    assert version_of(reopened.db) == VERSION
    last = reopened.messages(1)[-1]
    assert last.id == again and last.origin == "/models/SmolLM2"
    assert last.versions == (sent.reply_id, again)
    reopened.select_version(1, sent.reply_id)
    assert reopened.messages(1)[-1].origin == "remote://gpu-box/SmolLM2-135M-Instruct"
    reopened.close()
