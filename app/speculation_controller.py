"""Speculation in the app: Settings → Speculation drives it, the engine's worker thread applies it.

The GUI side of ``app/speculation_worker.py``. A choice goes to the worker (a draft model
loads there, never on the GUI thread) and is saved only once the engine took it; a refusal
is shown in the section and in the chat, and the section goes back to the setting in
effect. After every model load the saved setting is applied again, so a draft that does
not fit the new model says why (the engine has turned it off by then). The saved setting
itself stays, so it returns with a model it fits.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from app.bridge import Bridge
from app.model_controller import ModelController
from app.session import Session
from app.settings import AppSettings
from app.speculation_prefs import SpeculationPrefs
from app.speculation_settings import SpeculationSection
from app.speculation_worker import DraftsRequest, SpeculationOutcome, SpeculationRequest, draft_candidates


class SpeculationController(QObject):
    apply_requested = Signal(object)  # SpeculationRequest, queued to the worker
    drafts_requested = Signal(object)  # DraftsRequest, queued to the worker
    notice_raised = Signal(str, str)  # text, level

    def __init__(self, session: Session, bridge: Bridge, settings: Callable[[], AppSettings],
                 save_settings: Callable[[], None], section: SpeculationSection, models: ModelController,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session, self._settings, self._save, self.section, self.models = (
            session, settings, save_settings, section, models)
        self.in_effect = SpeculationPrefs()  # what the engine does; a new engine starts off
        self._pending = 0  # requests sent to the worker and not answered yet
        # (model folder, candidate) -> can draft. Reading a tokenizer holds the GIL for a while, so each
        # pair is read once, not after every load.
        self._fits: dict[tuple[str, str], bool] = {}
        worker = bridge.speculation
        self.apply_requested.connect(worker.apply)
        self.drafts_requested.connect(worker.find_drafts)
        worker.finished.connect(self._on_worker_finished)
        worker.drafts_found.connect(self._on_worker_drafts_found)
        section.chosen.connect(self.choose)
        models.model_loaded.connect(self._on_models_model_loaded)
        models.models_listed.connect(lambda _count: self._look_for_drafts())
        bridge.engine.model_unloaded.connect(self._look_for_drafts)
        saved = self._settings().speculation
        section.show_choice(saved)
        section.show_state(saved.describe())
        if saved.mode != "off":  # the engine keeps it and uses it once a model loads
            self._send(SpeculationRequest(saved, after_load=True))

    # -- the user's choice ----------------------------------------------------------------------
    def choose(self, prefs: SpeculationPrefs) -> None:
        """Apply ``prefs`` (what picking in the section does); saved once the engine took it."""
        if prefs.mode == "draft" and not prefs.draft_folder:
            self.section.show_state(self._no_draft_text(), error=True)
            self.section.show_choice(self.in_effect)
            return
        if prefs == self.in_effect and not self._pending:
            self.section.show_state(prefs.describe())
            return
        if prefs.mode == "draft":
            text = f"Loading the draft model {Path(prefs.draft_folder).name}…"
        else:
            text = "Applying…"
        if self.session.state.answering:
            text += " (after the reply in progress)"
        self.section.show_state(text)
        self._send(SpeculationRequest(prefs))

    def _send(self, request: SpeculationRequest) -> None:
        self._pending += 1
        self.section.set_busy(True)
        self.apply_requested.emit(request)

    def _no_draft_text(self) -> str:
        if self.session.loaded is None:
            return "Load a model first: the draft models offered are those that fit it."
        return (f"No installed model can draft for {self.session.loaded.info.name}: a draft model must use the "
                "same tokenizer. Install a smaller build of the same family.")

    # -- what the engine said -------------------------------------------------------------------
    def _on_worker_finished(self, outcome: SpeculationOutcome) -> None:
        self._pending = max(0, self._pending - 1)
        self.section.set_busy(self._pending > 0)
        if outcome.in_effect is not None:
            self.in_effect = outcome.in_effect
        asked = outcome.request.prefs
        if outcome.error is not None:
            if outcome.request.after_load:
                text = f"Speculation is off for this model. {outcome.error}"
            else:
                text = (f"Could not use {asked.label()}: {outcome.error} The previous setting stays: "
                        f"{self.in_effect.label()}.")
            self.section.show_state(text, error=True)
            self.notice_raised.emit(text, "info" if outcome.request.after_load else "error")
        else:
            if not outcome.request.after_load:
                self._settings().speculation = asked
                self._save()
                self.session.show_status(f"Speculation: {asked.describe()}", 3000)
            self.section.show_state(self.in_effect.describe())
        if not self._pending:
            self.section.show_choice(self.in_effect)

    # -- models come and go ---------------------------------------------------------------------
    def _on_models_model_loaded(self, _loaded: object) -> None:
        saved = self._settings().speculation
        if saved.mode != "off" or self.in_effect.mode != "off":
            self._send(SpeculationRequest(saved, after_load=True))  # the engine may have turned a draft off
        self._look_for_drafts()

    def _look_for_drafts(self) -> None:
        loaded = self.session.loaded_path
        if self.session.loaded is None or not loaded:
            self.section.show_drafts([])
            if not self._pending:
                self.section.show_choice(self.in_effect)
            return
        candidates = draft_candidates(self.models.picker.folders(), loaded)
        unknown = tuple(c for c in candidates if (loaded, c) not in self._fits)
        if unknown:
            self.drafts_requested.emit(DraftsRequest(loaded, unknown))
        else:
            self._show_drafts()

    def _on_worker_drafts_found(self, request: DraftsRequest, found: list[str] | None) -> None:
        if request.model_folder != self.session.loaded_path:
            return  # an answer for a model no longer loaded (which may have read as "no model": not kept)
        if found is not None:
            self._fits.update({(request.model_folder, c): c in found for c in request.candidates})
        self._show_drafts()

    def _show_drafts(self) -> None:
        loaded = self.session.loaded_path
        drafts = [c for c in draft_candidates(self.models.picker.folders(), loaded) if self._fits.get((loaded, c))]
        self.section.show_drafts(drafts, keep=self.in_effect.draft_folder or self._settings().speculation.draft_folder)
        if not self._pending:
            self.section.show_choice(self.in_effect)
