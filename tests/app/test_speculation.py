"""Settings → Speculation on the scripted fake engine: the worker, refusals, persistence, the metrics bar."""

from __future__ import annotations

import json
import re

import pytest
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from app import settings as settings_io
from app.bridge import Bridge
from app.main_window import MainWindow
from app.metrics_bar import MetricsBar, speculation_text
from app.speculation_prefs import SpeculationPrefs
from app.speculation_worker import DraftsRequest, SpeculationRequest
from app.state import AppState
from engine.core.events import GenerationEvent
from tests.app.fakes import ScriptedBackend

REFUSAL = "tiny-draft cannot draft for fake-model: its tokens map to different ids."


class _Driver(QObject):
    """Sends requests to the speculation worker as the controller does, and hears its answers."""

    apply = Signal(object)
    find = Signal(object)

    def __init__(self, bridge: Bridge) -> None:
        super().__init__()
        self.outcomes: list = []
        self.drafts: list = []
        self.apply.connect(bridge.speculation.apply)
        self.find.connect(bridge.speculation.find_drafts)
        bridge.speculation.finished.connect(self.finished)
        bridge.speculation.drafts_found.connect(self.found)

    @Slot(object)
    def finished(self, outcome) -> None:
        self.outcomes.append(outcome)

    @Slot(object, object)
    def found(self, request, folders) -> None:
        self.drafts.append((request.model_folder, folders))


@pytest.fixture
def bridge_of(qtbot):
    bridges = []

    def make(backend) -> Bridge:
        bridges.append(Bridge(backend))
        return bridges[-1]

    yield make
    for bridge in bridges:
        bridge.shutdown()


# -- the worker, through the bridge ------------------------------------------------------------
def test_set_speculation_runs_on_the_engine_thread_and_reports_the_setting(qtbot, bridge_of):
    backend = ScriptedBackend(drafts=["/models/tiny-draft"])
    threads = []
    original = backend.set_speculation
    backend.set_speculation = lambda *a: (threads.append(QThread.currentThread().objectName()), original(*a))[1]
    bridge = bridge_of(backend)
    driver = _Driver(bridge)
    driver.apply.emit(SpeculationRequest(SpeculationPrefs("draft", "/models/tiny-draft")))
    qtbot.waitUntil(lambda: len(driver.outcomes) == 1, timeout=5000)
    outcome = driver.outcomes[0]
    assert outcome.error is None
    assert outcome.in_effect == SpeculationPrefs("draft", "/models/tiny-draft")
    assert threads == ["hearth-engine"]  # beside the model, never on the GUI thread
    driver.find.emit(DraftsRequest("/models/big", ("/models/tiny-draft", "/models/other")))
    qtbot.waitUntil(lambda: bool(driver.drafts), timeout=5000)
    assert driver.drafts == [("/models/big", ["/models/tiny-draft"])]


def test_a_refused_draft_reports_the_message_and_the_old_setting_stays(qtbot, bridge_of):
    backend = ScriptedBackend(refuse_draft=REFUSAL)
    bridge = bridge_of(backend)
    driver = _Driver(bridge)
    driver.apply.emit(SpeculationRequest(SpeculationPrefs("lookup")))
    driver.apply.emit(SpeculationRequest(SpeculationPrefs("draft", "/models/tiny-draft")))
    qtbot.waitUntil(lambda: len(driver.outcomes) == 2, timeout=5000)
    refused = driver.outcomes[1]
    assert refused.error == REFUSAL
    assert refused.in_effect == SpeculationPrefs("lookup")
    assert backend.speculation == "lookup"


# -- the window -----------------------------------------------------------------------------------
def _open(qtbot, backend) -> MainWindow:
    w = MainWindow(backend)
    qtbot.addWidget(w)
    w.show()
    return w


def _load_with_drafts(qtbot, w: MainWindow, tmp_path, names=("tiny-draft", "other")) -> list[str]:
    folders = []
    for name in names:
        (tmp_path / name).mkdir()
        folders.append(str(tmp_path / name))
    w.settings.model_folders[:] = folders
    w.models.refresh()
    w.load_model(folders[-1])
    qtbot.waitUntil(lambda: w.loaded is not None and w.state is AppState.IDLE, timeout=5000)
    return folders


def _choose_mode(w: MainWindow, mode: str) -> None:
    combo = w.settings_panel.speculation.mode
    combo.setCurrentIndex(combo.findData(mode))  # as picking it in the list does


def test_prompt_lookup_applies_saves_and_shows_in_the_metrics_bar(qtbot, tmp_path):
    backend = ScriptedBackend(words=[" red", " green", " blue", " red", " green"])
    w = _open(qtbot, backend)
    _load_with_drafts(qtbot, w, tmp_path)
    section = w.settings_panel.speculation
    _choose_mode(w, "lookup")
    qtbot.waitUntil(lambda: w.settings.speculation.mode == "lookup", timeout=5000)
    assert ("set_speculation", "lookup", None) in backend.calls
    assert section.status.text() == "Prompt lookup is on." and section.mode.isEnabled()
    n = w.replies_finished
    w.composer.set_text("Repeat: red green blue")
    qtbot.keyClick(w.composer.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.replies_finished > n and w.state is AppState.IDLE, timeout=5000)
    # The bar repaints from a timer: wait for it to show the reply's last event.
    qtbot.waitUntil(lambda: w.metrics.speculation.isVisible()
                    and w.metrics.speculation.text() == "accepted 75 % · 1.5× faster", timeout=2000)
    w.close()


def test_draft_picker_lists_only_compatible_models(qtbot, tmp_path):
    w = _open(qtbot, ScriptedBackend(drafts=[]))
    w.bridge.engine.backend.drafts = [str(tmp_path / "tiny-draft")]
    _load_with_drafts(qtbot, w, tmp_path, names=("tiny-draft", "unrelated", "big"))
    draft = w.settings_panel.speculation.draft
    qtbot.waitUntil(lambda: draft.count() == 1, timeout=5000)
    assert draft.itemText(0) == "tiny-draft"
    asked = [c for c in w.bridge.engine.backend.calls if c[0] == "compatible_drafts"]
    w.load_model(str(tmp_path / "big"))  # a reload asks nothing again: each tokenizer is read once
    qtbot.waitUntil(lambda: w.loaded is not None and w.state is AppState.IDLE, timeout=5000)
    qtbot.wait(100)
    assert [c for c in w.bridge.engine.backend.calls if c[0] == "compatible_drafts"] == asked
    assert draft.count() == 1
    w.close()


def test_a_refused_draft_is_shown_and_the_old_setting_stays(qtbot, tmp_path):
    backend = ScriptedBackend(refuse_draft=REFUSAL, drafts=[str(tmp_path / "tiny-draft")])
    w = _open(qtbot, backend)
    _load_with_drafts(qtbot, w, tmp_path)
    section = w.settings_panel.speculation
    qtbot.waitUntil(lambda: section.draft.count() == 1, timeout=5000)
    _choose_mode(w, "lookup")
    qtbot.waitUntil(lambda: w.settings.speculation.mode == "lookup", timeout=5000)
    _choose_mode(w, "draft")
    qtbot.waitUntil(lambda: section.status.property("error") is True, timeout=5000)
    assert REFUSAL in section.status.text() and "previous setting stays: prompt lookup" in section.status.text()
    assert any(REFUSAL in n.text for n in w.chat.notices)
    assert w.settings.speculation == SpeculationPrefs("lookup")  # not saved
    assert section.mode.currentData() == "lookup" and section.mode.isEnabled()  # the section shows the old one
    assert backend.speculation == "lookup"
    w.close()


def test_draft_mode_without_a_compatible_model_says_so(qtbot, tmp_path):
    w = _open(qtbot, ScriptedBackend())
    _load_with_drafts(qtbot, w, tmp_path)
    section = w.settings_panel.speculation
    _choose_mode(w, "draft")
    assert "No installed model can draft for fake-model" in section.status.text()
    assert section.mode.currentData() == "off" and w.settings.speculation.mode == "off"
    w.close()


def test_the_setting_survives_a_restart_and_is_applied_at_start(qtbot, hearth_home, tmp_path):
    w = _open(qtbot, ScriptedBackend())
    _choose_mode(w, "lookup")  # no model yet: the engine keeps it for the next load
    qtbot.waitUntil(lambda: w.settings.speculation.mode == "lookup", timeout=5000)
    w.close()
    saved = json.loads((hearth_home / "config" / "settings.json").read_text(encoding="utf-8"))
    assert saved["speculation"] == {"mode": "lookup", "draft_folder": ""}

    backend = ScriptedBackend()
    w2 = _open(qtbot, backend)
    assert w2.settings.speculation == SpeculationPrefs("lookup")
    assert w2.settings_panel.speculation.mode.currentData() == "lookup"
    qtbot.waitUntil(lambda: backend.speculation == "lookup", timeout=5000)  # sent to the engine at start
    w2.close()


def test_a_saved_draft_that_does_not_fit_the_loaded_model_says_why(qtbot, hearth_home, tmp_path):
    settings = settings_io.AppSettings(speculation=SpeculationPrefs("draft", str(tmp_path / "tiny-draft")))
    settings_io.save(settings)
    backend = ScriptedBackend()
    w = _open(qtbot, backend)
    backend.refuse_draft = REFUSAL  # the model loaded next is not one the draft fits
    backend.speculation, backend.draft_folder = "off", None  # as the engine's load turns it off
    _load_with_drafts(qtbot, w, tmp_path, names=("big",))
    qtbot.waitUntil(lambda: any(REFUSAL in n.text for n in w.chat.notices), timeout=5000)
    section = w.settings_panel.speculation
    assert section.mode.currentData() == "off" and "off for this model" in section.status.text()
    assert w.settings.speculation.mode == "draft"  # kept for a model it fits
    w.close()


def test_speculation_prefs_take_off_for_bad_values():
    problems: list[str] = []
    assert SpeculationPrefs.from_json({"mode": "fast"}, problems) == SpeculationPrefs()
    assert SpeculationPrefs.from_json({"mode": "draft"}, problems) == SpeculationPrefs()
    assert SpeculationPrefs.from_json([1], problems) == SpeculationPrefs()
    assert len(problems) == 3
    assert SpeculationPrefs.from_json({"mode": "lookup", "draft_folder": "/x"}, []) == SpeculationPrefs("lookup")
    data = settings_io.AppSettings(speculation=SpeculationPrefs("draft", "/m/d")).to_json()
    assert settings_io._parse(data, []).speculation == SpeculationPrefs("draft", "/m/d")


# -- the metrics bar ----------------------------------------------------------------------------
def _event(drafted: int, accepted: int, speedup: float | None) -> GenerationEvent:
    return GenerationEvent("x", 1, 5, 0, 3, 8, 1024, decode_tps=30.0, drafted_tokens=drafted,
                           accepted_tokens=accepted, speedup=speedup)


def test_metrics_bar_shows_acceptance_and_speedup_only_while_speculating(qtbot):
    bar = MetricsBar()
    qtbot.addWidget(bar)
    bar.show()
    assert speculation_text(_event(0, 0, None)) == ""
    assert speculation_text(_event(11, 9, None)) == "accepted 82 % · — faster"
    bar.show_event(_event(50, 41, 1.62))
    qtbot.waitUntil(lambda: bar.speculation.isVisible(), timeout=2000)
    assert re.fullmatch(r"accepted 82 % · 1\.6× faster", bar.speculation.text())
    assert bar.decode.text() == "decode 30.0 tok/s"  # the other figures stay
    bar.show_event(_event(0, 0, None))
    qtbot.waitUntil(lambda: not bar.speculation.isVisible(), timeout=2000)
    bar.show_event(_event(4, 4, 2.0))
    qtbot.waitUntil(lambda: bar.speculation.isVisible(), timeout=2000)
    bar.clear()
    assert not bar.speculation.isVisible()
