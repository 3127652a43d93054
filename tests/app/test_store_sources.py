"""Citations in the store: the version 5 migration keeps a version 4 user's history, and a
reply's sources and left-out note, written through the writer thread, survive a reopen."""

from __future__ import annotations

import sqlite3

from app.reply_sources import ReplySources, decode, encode
from app.store import Store
from app.store_schema import MIGRATIONS, VERSION, version_of
from app.token_probs import encode as encode_tokens
from engine.documents.sources import Source
from tests.app.test_bench_history import _version_3_database
from tests.app.test_store_token_probs import TOKENS

SOURCES = ReplySources(
    (Source("harbour-log.pdf", "page", 3, 3, "The harbour master's cat is named Biscuit."),
     Source("notes.md", "line", 10, 12, "line ten\nline eleven\nline twelve"),
     Source("short.txt", "line", 1, 1, "all of it", whole=True)),
    ("harbour-log.pdf: pages 1-2, 4-6 not included",),
)


def _version_4_database(path) -> None:
    """A file as Hearth wrote it at version 4: chats with token probabilities, a benchmark run."""
    _version_3_database(path)
    db = sqlite3.connect(str(path), isolation_level=None)
    for statement in MIGRATIONS[3]:
        db.execute(statement)
    db.execute("PRAGMA user_version = 4")
    db.execute("UPDATE messages SET token_probs = ? WHERE id = 7", (encode_tokens(TOKENS),))
    db.execute("INSERT INTO bench_runs(id, created, status) VALUES (1, 1000.0, 'finished')")
    assert "sources" not in [r[1] for r in db.execute("PRAGMA table_info(messages)")]
    db.close()


def test_a_version_4_database_keeps_its_history_and_gains_citations(tmp_path):
    path = tmp_path / "conversations.sqlite3"
    _version_4_database(path)
    store = Store(path)
    assert version_of(store.db) == VERSION >= 5
    trip = store.messages(1)
    assert [m.content for m in trip] == ["what should I pack?", "A towel.", "and for rain?", "Boots."]
    assert trip[-1].versions == (6, 7) and trip[1].stats == {"decode_tps": 40.0}
    assert trip[-1].origin == "/models/SmolLM2" and trip[0].attachments[0].text == "towel"
    assert [t.text for t in trip[-1].tokens()] == ["Boo", "ts", "."]
    assert [(m.content, m.complete) for m in store.messages(2)] == [("boil an egg?", True), ("Nine minut", False)]
    assert [tuple(r) for r in store.db.execute("SELECT id, status FROM bench_runs")] == [(1, "finished")]
    assert all(not m.sources() for m in trip)  # written before citations were kept
    # A new reply keeps its sources, through the writer thread, across a reopen.
    new = store.restart_reply(1, trip[-1].id, "SmolLM2", origin="/models/SmolLM2")
    store.update_message(new, "", sources=SOURCES)
    assert store.messages(1)[-1].sources() == SOURCES  # pending, shown as it will be
    store.update_message(new, "Biscuit", tokens=TOKENS[:1])  # streaming keeps them
    store.update_message(new, "Biscuit.", {"decode_tps": 30.0}, "stop", complete=True, tokens=TOKENS)
    assert store.close()
    reopened = Store(path)
    last = reopened.messages(1)[-1]
    assert (last.content, last.versions) == ("Biscuit.", (6, 7, new))
    assert last.sources() == SOURCES and len(last.tokens()) == 3
    reopened.close()


def test_a_later_update_without_sources_keeps_the_stored_ones(tmp_path):
    store = Store(tmp_path / "c.sqlite3")
    sent = store.begin_exchange(None, "t", "hi", "m")
    store.update_message(sent.reply_id, "", sources=SOURCES)
    assert store.writer.flush(5.0)
    store.update_message(sent.reply_id, "Biscuit.", {"x": 1.0}, "stop", complete=True)
    assert store.writer.flush(5.0)
    assert store.messages(sent.conversation_id)[-1].sources() == SOURCES
    raw = store.db.execute("SELECT sources FROM messages WHERE id = ?", (sent.reply_id,)).fetchone()[0]
    assert decode(raw) == SOURCES
    store.close()


def test_sources_round_trip_and_damaged_json_loses_only_the_chips():
    assert decode(encode(SOURCES)) == SOURCES
    assert decode(encode(ReplySources())) == ReplySources() and not ReplySources()
    assert decode(None) == ReplySources() and decode("{not json") == ReplySources()
    assert decode('{"v": 1, "s": [["a.pdf", "page"]], "o": []}') == ReplySources()
