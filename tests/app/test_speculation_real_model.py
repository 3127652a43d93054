"""Speculation in the window on the real default model: a prompt-lookup reply shows its acceptance rate."""

from __future__ import annotations

import re

import pytest
from PySide6.QtCore import Qt

from app.speculation_prefs import SpeculationPrefs
from app.state import AppState
from tests.app.fakes import SignalLog

pytestmark = pytest.mark.slow

RATE = re.compile(r"accepted (\d+) % · (\d+\.\d× faster|— faster)")


def test_prompt_lookup_reply_shows_acceptance_in_the_metrics_bar(qtbot, real_window):
    w = real_window
    assert w.settings.defaults.temperature == 0.0  # greedy
    w.settings.set_value("repetition_penalty", 1.0)  # a penalty would steer the reply away from the repeats
    section = w.settings_panel.speculation
    section.mode.setCurrentIndex(section.mode.findData("lookup"))  # as picking it in the list does
    qtbot.waitUntil(lambda: w.settings.speculation == SpeculationPrefs("lookup"), timeout=20_000)
    assert w.bridge.engine.backend.speculation == "lookup"
    log = SignalLog(w.bridge.engine)
    n = w.replies_finished
    w.composer.edit.setFocus()
    qtbot.keyClicks(w.composer.edit, "Repeat exactly: red green blue red green blue red green blue")
    qtbot.keyClick(w.composer.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.replies_finished > n and w.state is AppState.IDLE, timeout=60_000)
    final = w.last_finished
    reply = w.chat.messages[-1].text
    assert final.drafted_tokens > 0 and final.accepted_tokens > 0, f"no guess held in {reply!r}"
    rate = round(100 * final.accepted_tokens / final.drafted_tokens)

    def shown_rate() -> int | None:
        found = RATE.fullmatch(w.metrics.speculation.text()) if w.metrics.speculation.isVisible() else None
        return int(found.group(1)) if found else None

    # The bar repaints from a timer: wait for it to show the reply's last figures.
    qtbot.waitUntil(lambda: shown_rate() == rate, timeout=2000)
    assert any(t.drafted_tokens for t in log.tokens)  # the streamed events carried the counts
    assert "tok/s" in w.metrics.decode.text()  # the other figures stay


def test_a_draft_model_is_offered_applied_and_kept_after_a_reload(qtbot, real_window, fp32_model_dir):
    """The fp32 build shares the default model's tokenizer, so it is offered as its draft."""
    w = real_window
    w.models.register_folder(str(fp32_model_dir))
    section = w.settings_panel.speculation
    qtbot.waitUntil(lambda: section.draft.findData(str(fp32_model_dir)) >= 0, timeout=20_000)
    assert section.draft.findData(w.session.loaded_path) < 0  # never the model itself
    section.draft.setCurrentIndex(section.draft.findData(str(fp32_model_dir)))
    section.mode.setCurrentIndex(section.mode.findData("draft"))
    wanted = SpeculationPrefs("draft", str(fp32_model_dir))
    qtbot.waitUntil(lambda: w.settings.speculation == wanted, timeout=60_000)
    assert w.bridge.engine.backend.speculation == "draft"
    assert section.status.text() == f"Drafting with {fp32_model_dir.name}."
    w.models.reload()
    qtbot.waitUntil(lambda: w.state is AppState.IDLE and w.loaded is not None and section.mode.isEnabled(),
                    timeout=60_000)
    assert w.speculation.in_effect == wanted and w.bridge.engine.backend.speculation == "draft"
