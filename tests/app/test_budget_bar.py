"""The context-budget bar on the real default model: exact segments, live updates, overflow lines, no stalls."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.budget_controller import DEBOUNCE_MS
from app.main_window import MainWindow
from app.state import AppState
from engine.generation.budget import ContextBudget
from tests.helpers.heartbeat import Heartbeat
from tests.helpers.make_pdf import write_pdf

pytestmark = pytest.mark.slow

SENTENCE = "The lighthouse keeper climbs the stairs at dusk and lights the lamp for the fishing boats. "


def _settled(qtbot, w: MainWindow, check=lambda b: True, timeout: int = 20_000) -> ContextBudget:
    """The bar's budget once the latest request is answered and ``check`` holds."""
    def done() -> bool:
        b = w.budget.bar.budget
        return (b is not None and not w.budget._timer.isActive()
                and w.budget.counter._last is not None and w.budget.counter._last.request_id == w.budget._request_id
                and _answered(w) and check(b))
    qtbot.waitUntil(done, timeout=timeout)
    return w.budget.bar.budget


def _answered(w: MainWindow) -> bool:
    return getattr(w.budget, "_answered_id", None) == w.budget._request_id


@pytest.fixture
def window(real_window, monkeypatch):
    w = real_window
    # Note which request the bar shows, so tests wait for the answer to the latest one.
    original = w.budget._on_counter_measured

    def noted(request_id, budget):
        if request_id == w.budget._request_id:
            w.budget._answered_id = request_id
        original(request_id, budget)

    w.budget.counter.measured.disconnect(original)
    w.budget.counter.measured.connect(noted)
    w.budget.measure_now()
    return w


def _seg(budget: ContextBudget, kind: str) -> int:
    return sum(s.tokens for s in budget.segments if s.kind == kind)


def _prompt_sum(budget: ContextBudget) -> int:
    return sum(s.tokens for s in budget.segments if s.kind not in ("reserve", "free"))


def _send_and_wait(qtbot, w: MainWindow) -> None:
    count = w.replies_finished
    qtbot.keyClick(w.composer.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.replies_finished > count and w.state is AppState.IDLE, timeout=60_000)


def _seed_history(w: MainWindow, exchanges: int, words: int) -> None:
    """A chat of ``exchanges`` question/answer pairs, written straight to the store, then opened."""
    conversation = None
    for i in range(exchanges):
        sent = w.store.begin_exchange(conversation, "Seeded", f"Question {i}: " + SENTENCE * words, "m")
        conversation = sent.conversation_id
        w.store.update_message(sent.reply_id, f"Answer {i}: " + SENTENCE * words, {}, "stop", complete=True)
    w.chats.open_conversation(conversation)


def test_segments_add_up_to_the_prompt_that_is_sent(qtbot, window, tmp_path):
    w = window
    notes = tmp_path / "harbour.txt"
    notes.write_text("Harbour notes.\n\n" + SENTENCE * 4, encoding="utf-8")
    for turn, question in enumerate(("Who lights the lamp?", "When does he climb the stairs?")):
        if turn == 1:
            w.attach_files([str(notes)])
            qtbot.waitUntil(lambda: bool(w.composer.ready_documents()), timeout=20_000)
        w.composer.edit.setFocus()
        qtbot.keyClicks(w.composer.edit, question)
        budget = _settled(qtbot, w, lambda b: _seg(b, "message") > 0 and (turn == 0 or _seg(b, "document") > 0))
        assert _prompt_sum(budget) == budget.prompt_tokens
        assert sum(s.tokens for s in budget.segments) == budget.context == w.loaded_context
        if turn == 1:
            bar = w.composer.budget_bar
            assert "harbour.txt" in bar.legend.text() and "harbour.txt" in bar.legend.toolTip()
            assert "tokens" in bar.legend.toolTip() and not bar.outcome.isVisible()
        _send_and_wait(qtbot, w)
        assert w.last_finished.prompt_tokens == budget.prompt_tokens
        # The engine's own prompt text, tokenized, is the same length too.
        codec = w.bridge.engine.backend.local.model.codec
        assert len(codec.encode(w.bridge.engine.last_prompt)) == budget.prompt_tokens
    assert _seg(budget, "history") > 0 and _seg(budget, "system") > 0 and _seg(budget, "template") > 0
    doc = next(s for s in budget.segments if s.kind == "document")
    assert doc.label == "harbour.txt" and not doc.detail  # it fit whole


def test_typing_updates_the_bar_once_per_pause(qtbot, window):
    w = window
    before = _settled(qtbot, w)
    sent = w.budget.requests_sent
    w.composer.edit.setFocus()
    qtbot.keyClicks(w.composer.edit, "How tall is the lighthouse")  # faster than the debounce, key by key
    assert w.budget.requests_sent == sent  # nothing measured while the keys come in
    after = _settled(qtbot, w, lambda b: _seg(b, "message") > 0)
    assert w.budget.requests_sent == sent + 1
    assert after.prompt_tokens > before.prompt_tokens
    qtbot.keyClicks(w.composer.edit, " and who built it in the first place?")
    longer = _settled(qtbot, w, lambda b: _seg(b, "message") > _seg(after, "message"))
    assert w.budget.requests_sent == sent + 2
    assert _seg(longer, "free") < _seg(after, "free")
    qtbot.wait(2 * DEBOUNCE_MS)
    assert w.budget.requests_sent == sent + 2  # no measuring without a change


@pytest.mark.parametrize("policy, expected", [
    ("drop_oldest", "Sending drops the"),
    ("truncate_middle", "out of the middle of the earlier messages"),
    ("stop", "Too long: the reply cannot start"),
])
def test_overflow_says_what_the_policy_will_do(qtbot, window, policy, expected):
    w = window
    w.settings.set_value("overflow_policy", policy)
    _seed_history(w, exchanges=3, words=10)  # about 1,150 tokens: more than the 1,024 of context
    w.composer.edit.setFocus()
    qtbot.keyClicks(w.composer.edit, "Summarise our chat.")
    budget = _settled(qtbot, w, lambda b: _seg(b, "message") > 0 and b.outcome != "")
    assert expected in budget.outcome
    assert expected in w.composer.budget_bar.outcome.text() and w.composer.budget_bar.outcome.isVisible()
    assert budget.sendable == (policy != "stop")
    if policy == "stop":
        assert budget.prompt_tokens > budget.context
        return
    assert budget.prompt_tokens + _seg(budget, "reserve") <= budget.context
    _send_and_wait(qtbot, w)
    assert w.last_finished.prompt_tokens == budget.prompt_tokens
    if policy == "drop_oldest":
        dropped = int(budget.outcome.split("Sending drops the ")[1].split()[0])
        assert w.last_finished.dropped_messages == dropped


def test_a_document_too_long_to_fit_whole_is_announced(qtbot, window, tmp_path):
    w = window
    pdf = write_pdf(tmp_path / "logbook.pdf", [f"Page {n}.\n" + "\n".join([SENTENCE] * 6) for n in range(1, 9)])
    w.attach_files([str(pdf)])
    qtbot.waitUntil(lambda: bool(w.composer.ready_documents()), timeout=30_000)
    budget = _settled(qtbot, w, lambda b: _seg(b, "document") > 0)
    doc = next(s for s in budget.segments if s.kind == "document")
    assert "not included" in doc.detail
    assert "only their most relevant parts go in" in budget.outcome and "logbook.pdf" in budget.outcome


def _type_like_a_person(qtbot, widget, text: str) -> None:
    """One key per event-loop turn: ``keyClicks`` sends a whole string in one turn, which the
    heartbeat would count as a stall of the app (20 keys took 65-80 ms here)."""
    for char in text:
        qtbot.keyClicks(widget, char)
        qtbot.wait(15)


def test_gui_never_stalls_while_the_bar_counts_a_20_page_pdf(qtbot, window, tmp_path):
    w = window
    w.settings.set_value("context_length", 8192)  # room for thousands of the PDF's 14,000 tokens
    w.load_model(str(w.picker.current()))
    qtbot.waitUntil(lambda: w.loaded is not None and w.loaded_context == 8192 and w.state is AppState.IDLE,
                    timeout=60_000)
    # The first PDF of a process loads the PDF library on the jobs thread, which stalls the GUI
    # once for ~150 ms whatever the bar does; a one-page PDF pays for that before the clock starts.
    w.attach_files([str(write_pdf(tmp_path / "warm-up.pdf", ["One page."]))])
    qtbot.waitUntil(lambda: bool(w.composer.ready_documents()), timeout=30_000)
    w.composer.clear_attachments()
    pages = [f"Page {n} of the harbour log.\n" + "\n".join([SENTENCE] * 35) for n in range(1, 21)]  # ~3,000 chars each
    pdf = write_pdf(tmp_path / "harbour-log.pdf", pages)
    heartbeat = Heartbeat()
    heartbeat.start()
    w.attach_files([str(pdf)])
    w.composer.edit.setFocus()
    _type_like_a_person(qtbot, w.composer.edit, "What happens at dusk?")
    budget = _settled(qtbot, w, lambda b: _seg(b, "document") > 0 and _seg(b, "message") > 0, timeout=60_000)
    for _ in range(3):  # recounts: the document's count comes from the cache
        _type_like_a_person(qtbot, w.composer.edit, " Really?")
        budget = _settled(qtbot, w, lambda b: _seg(b, "message") > 0)
    heartbeat.stop()
    doc = next(s for s in budget.segments if s.kind == "document")
    assert doc.tokens > 2000 and "not included" in doc.detail
    assert len(heartbeat.gaps) > 20
    assert max(heartbeat.gaps) < 0.100, f"GUI thread stalled for {max(heartbeat.gaps) * 1000:.0f} ms (tick {heartbeat.gaps.index(max(heartbeat.gaps))} of {len(heartbeat.gaps)})"
