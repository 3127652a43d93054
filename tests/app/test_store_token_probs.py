"""Token probabilities in the store: the version 3 migration keeps a version 2 user's history,
and a reply's tokens, written through the writer thread while it streams, survive a reopen."""

from __future__ import annotations

import math
import sqlite3

from app.store import Store
from app.store_schema import version_of
from app.token_probs import ReplyToken, TokenRecorder, decode, encode
from engine.core.events import GenerationEvent, StepLogprobs, TokenLogprob

from tests.app.test_store_migration import _version_1_database


def _version_2_database(path) -> None:
    """A file as Hearth wrote it at version 2 (branches and origins, no token probabilities)."""
    import app.store_schema as schema

    _version_1_database(path)
    db = sqlite3.connect(str(path), isolation_level=None)
    for statement in schema.MIGRATIONS[1]:
        db.execute(statement)
    db.execute("UPDATE messages SET origin = '/models/SmolLM2' WHERE role = 'assistant'")
    db.execute("PRAGMA user_version = 2")
    assert "token_probs" not in [r[1] for r in db.execute("PRAGMA table_info(messages)")]
    db.close()


def _token(text: str, token_id: int, p: float, *alternatives: tuple[int, str, float]) -> ReplyToken:
    top = tuple(TokenLogprob(i, math.log(q), t) for i, t, q in alternatives)
    return ReplyToken(text, StepLogprobs(TokenLogprob(token_id, math.log(p), text), top))


TOKENS = (
    _token("Boo", 10, 0.93, (10, "Boo", 0.93), (11, "Sh", 0.04)),
    _token("ts", 12, 0.31, (13, "ks", 0.52), (12, "ts", 0.31), (14, "t", 0.1)),
    _token(".", 15, 0.999, (15, ".", 0.999)),
)


def test_a_version_2_database_keeps_its_history_and_gains_token_probabilities(tmp_path):
    path = tmp_path / "conversations.sqlite3"
    _version_2_database(path)
    store = Store(path)
    assert version_of(store.db) >= 3  # 3 added the column; later versions only add
    assert "token_probs" in [r[1] for r in store.db.execute("PRAGMA table_info(messages)")]
    trip = store.messages(1)
    assert [m.content for m in trip] == ["what should I pack?", "A towel.", "and for rain?", "Boots."]
    assert trip[-1].versions == (6, 7) and trip[1].stats == {"decode_tps": 40.0}
    assert trip[-1].origin == "/models/SmolLM2" and trip[0].attachments[0].text == "towel"
    assert all(m.tokens() == () for m in trip)  # written before probabilities were kept
    # A new reply keeps its tokens, through the writer thread, across a reopen.
    new = store.restart_reply(1, trip[-1].id, "SmolLM2", origin="/models/SmolLM2")
    store.update_message(new, "Boo", tokens=TOKENS[:1])
    assert store.messages(1)[-1].tokens() == TOKENS[:1]  # pending, shown as it will be
    store.update_message(new, "Boots.", {"decode_tps": 30.0}, "stop", complete=True, tokens=TOKENS)
    assert store.close()
    reopened = Store(path)
    last = reopened.messages(1)[-1]
    assert last.content == "Boots." and last.versions == (6, 7, new)
    assert [(t.text, t.token_id) for t in last.tokens()] == [("Boo", 10), ("ts", 12), (".", 15)]
    for stored, sent in zip(last.tokens(), TOKENS):
        assert abs(stored.step.chosen.logprob - sent.step.chosen.logprob) < 1e-4
        assert [(a.token_id, a.text) for a in stored.step.top] == [(a.token_id, a.text) for a in sent.step.top]
    reopened.close()


def test_an_update_without_tokens_keeps_the_stored_ones(tmp_path):
    store = Store(tmp_path / "c.sqlite3")
    sent = store.begin_exchange(None, "t", "hi", "m")
    store.update_message(sent.reply_id, "Boots.", tokens=TOKENS)
    store.writer.flush(5.0)
    store.update_message(sent.reply_id, "Boots.", {"x": 1.0}, "stop", complete=True)
    store.writer.flush(5.0)
    assert [t.text for t in store.messages(sent.conversation_id)[-1].tokens()] == ["Boo", "ts", "."]
    store.close()


def test_the_stored_form_is_compact_and_damage_only_loses_the_shading():
    text = encode(TOKENS)
    assert len(text) < 200 and decode(text)[1].text == "ts"
    assert decode("") == () and decode("{not json") == () and decode('{"v": 99, "t": []}') == ()
    banned = ReplyToken("x", StepLogprobs(TokenLogprob(1, -math.inf, "x")))  # JSON has no -inf
    assert decode(encode([banned]))[0].step.chosen.logprob == -99.0


def test_the_recorder_keeps_tokens_in_step_with_the_text():
    def event(text, step=None, finish=None):
        return GenerationEvent(text, None, 1, 0, 1, 1, 10, finish_reason=finish, logprobs=step)

    recorder = TokenRecorder()
    for t in TOKENS:
        recorder.add(event(t.text, t.step))
    recorder.add(event("!", None, "stop"))  # a tail released at the end: shown unshaded
    assert recorder.snapshot() == TOKENS
    assert TokenRecorder.resume(TOKENS, "Boots.").snapshot() == TOKENS
    assert TokenRecorder.resume((), "Old text").snapshot() == ()  # continued from a reply without them
    broken = TokenRecorder()
    broken.add(event("text without probabilities"))
    broken.add(event("Boo", TOKENS[0].step))
    assert broken.snapshot() == ()
