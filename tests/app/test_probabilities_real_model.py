"""The token-probability view on the real default model: the shading is the stored
log-probabilities, a chosen alternative branches the reply from that token on a trimmed
cache, and the view comes back from the database after a restart."""

from __future__ import annotations

import math
import sqlite3

from PySide6.QtGui import QTextCharFormat

from app.token_probs import decode, probability
from app.token_view import LOW, is_special, level, shade, tooltip_text
from engine.generation.generate import REFEED_TOKENS


def _stored_tokens(window, message_id: int):
    """The reply's tokens as the database holds them (read on a connection of our own)."""
    assert window.store.writer.flush(10.0)
    db = sqlite3.connect(str(window.store.path))
    try:
        row = db.execute("SELECT token_probs FROM messages WHERE id = ?", (message_id,)).fetchone()
    finally:
        db.close()
    return decode(row[0])


def _shading(widget) -> dict[int, set[tuple[str | None, bool]]]:
    """Token index -> the (background, wavy underline) its text is drawn with."""
    found: dict[int, set[tuple[str | None, bool]]] = {}
    block = widget.body.document().begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fmt = it.fragment().charFormat()
            if fmt.isAnchor() and fmt.anchorHref().startswith("tok:"):
                brush = fmt.background()
                colour = brush.color().name() if brush.style().name != "NoBrush" else None
                wavy = fmt.underlineStyle() == QTextCharFormat.UnderlineStyle.WaveUnderline
                found.setdefault(int(fmt.anchorHref()[4:]), set()).add((colour, wavy))
            it += 1
        block = block.next()
    return found


def _check_shading(widget, tokens, dark: bool) -> None:
    shading = _shading(widget)
    # A token that is only line ends draws no characters (the document breaks the paragraph).
    assert set(shading) == {i for i, t in enumerate(tokens) if t.text.replace("\n", "")}
    for i, drawn in shading.items():
        p = math.exp(tokens[i].step.chosen.logprob)
        colour = shade(p, dark)
        assert drawn == {(colour.name() if colour else None, level(p) == LOW)}, (i, p, drawn)


def _reply_widget(window):
    return next(m for m in reversed(window.chat.messages) if m.role == "assistant")


def test_probabilities_shade_branch_and_survive_a_restart(real_window, qtbot):
    w = real_window
    w.send("Name three colours of the rainbow.")
    qtbot.waitUntil(lambda: w.replies_finished == 1, timeout=120_000)
    first_event = w.last_finished
    widget = _reply_widget(w)
    tokens = _stored_tokens(w, widget.message_id)
    assert len(tokens) >= 6 and "".join(t.text for t in tokens) == widget.text
    assert all(len(t.step.top) == 5 for t in tokens)

    # The view, turned on for this reply, shades each token by its stored probability, in both themes.
    assert widget.probabilities.button.isVisible() and not widget.probabilities.legend.isVisible()
    widget.probabilities.button.setChecked(True)
    assert widget.probabilities.legend.isVisible() and "under 20%" in widget.probabilities.legend.text()
    _check_shading(widget, tokens, dark=w.chat.dark)
    w.chat.set_dark(not w.chat.dark)
    _check_shading(widget, tokens, dark=w.chat.dark)
    w.chat.set_dark(not w.chat.dark)
    hover = tooltip_text(tokens[1])
    assert f"{probability(tokens[1].step.top[0]):.1%}" in hover and "Top alternatives" in hover

    # Choose an alternative at a token past the first few: a new version branches from it.
    index = next(i for i in range(2, len(tokens)) if any(
        a.token_id != tokens[i].token_id and not is_special(a.text) for a in tokens[i].step.top))
    alternative = next(a for a in tokens[index].step.top if a.token_id != tokens[index].token_id
                       and not is_special(a.text))
    menu = widget.probabilities.alternatives_menu(index)
    action = next(a for a in menu.actions() if a.isEnabled() and a.text().endswith(f"{probability(alternative):.1%}")
                  and alternative.text.replace(" ", "␣") in a.text())
    action.trigger()
    qtbot.waitUntil(lambda: w.replies_finished == 2, timeout=120_000)
    branch = w.last_finished
    new_widget = _reply_widget(w)
    assert new_widget.message_id != widget.message_id and (new_widget.version, new_widget.version_count) == (2, 2)
    new_tokens = _stored_tokens(w, new_widget.message_id)
    ids, new_ids = [t.token_id for t in tokens], [t.token_id for t in new_tokens]
    first_difference = next(i for i, (a, b) in enumerate(zip(ids, new_ids)) if a != b)
    assert first_difference == index and new_ids[index] == alternative.token_id
    assert new_widget.text.startswith("".join(t.text for t in tokens[:index]) + alternative.text)
    # The cache was trimmed to the branch point, not rebuilt: all but the re-fed tail came from it.
    kept = first_event.prompt_tokens + index + 1
    assert branch.prompt_tokens == kept
    assert branch.cached_tokens == kept - REFEED_TOKENS > first_event.prompt_tokens
    assert new_widget.probabilities.active()  # the branch opens in the same view
    # The old branch is still there.
    w.chats.show_version(new_widget.message_id, -1)
    assert _reply_widget(w).message_id == widget.message_id and _reply_widget(w).text == widget.text
    w.chats.show_version(widget.message_id, +1)

    # After a restart the view comes back from the database, with the setting kept on.
    w.probabilities_action.setChecked(True)
    conversation = w.conversation_id
    w.shutdown()
    from app.main_window import MainWindow
    from tests.app.fakes import ScriptedBackend

    again = MainWindow(ScriptedBackend())
    qtbot.addWidget(again)
    try:
        assert again.settings.show_probabilities and again.probabilities_action.isChecked()
        again.chats.open_conversation(conversation)
        reopened = _reply_widget(again)
        assert reopened.message_id == new_widget.message_id and reopened.probabilities.active()
        _check_shading(reopened, new_tokens, dark=again.chat.dark)
    finally:
        again.shutdown()
