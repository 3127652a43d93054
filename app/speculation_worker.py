"""Speculation on the engine's thread: apply the setting, and find the models that can draft.

``SpeculationWorker`` lives on the bridge's engine thread beside ``EngineWorker``, so
loading a draft model never races a model load or a reply and never blocks the window.
Each request comes back as one ``SpeculationOutcome``: what was asked, what the engine
now does, and the engine's refusal if it said no (the engine then keeps its old setting).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal, Slot

from app.speculation_prefs import SpeculationPrefs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpeculationRequest:
    prefs: SpeculationPrefs
    after_load: bool = False  # re-applied for a newly loaded model, not chosen by the user just now


@dataclass(frozen=True)
class SpeculationOutcome:
    request: SpeculationRequest
    in_effect: SpeculationPrefs | None  # what the engine does from now on (None: unchanged, as far as known)
    error: str | None = None  # why the engine refused the request


@dataclass(frozen=True)
class DraftsRequest:
    model_folder: str  # the model the drafts were looked up for
    candidates: tuple[str, ...]


class SpeculationWorker(QObject):
    finished = Signal(object)  # SpeculationOutcome
    drafts_found = Signal(object, object)  # DraftsRequest, the candidates that can draft (None: unknown)

    def __init__(self, backend: object) -> None:
        super().__init__()
        self.backend = backend

    @Slot(object)
    def apply(self, request: SpeculationRequest) -> None:
        prefs, error = request.prefs, None
        if request.after_load and self._in_effect(None) == prefs:
            # The load kept the setting: asking again would only read both tokenizers once more.
            self.finished.emit(SpeculationOutcome(request, prefs))
            return
        try:
            self.backend.set_speculation(prefs.mode, prefs.draft_folder or None)  # type: ignore[attr-defined]
        except BaseException as exc:  # noqa: BLE001 - every slot reports instead of raising
            from app.bridge import _user_message  # imported here: the bridge imports this module

            error = _user_message(exc)
        self.finished.emit(SpeculationOutcome(request, self._in_effect(prefs if error is None else None), error))

    def _in_effect(self, asked: SpeculationPrefs | None) -> SpeculationPrefs | None:
        # The engine's own word when it has one: a load may have turned a mismatched draft off.
        mode = getattr(self.backend, "speculation", None)
        if mode is None:
            return asked
        return SpeculationPrefs(mode, getattr(self.backend, "draft_folder", None) or "")

    @Slot(object)
    def find_drafts(self, request: DraftsRequest) -> None:
        try:
            found = [str(f) for f in self.backend.compatible_drafts(list(request.candidates))]  # type: ignore[attr-defined]
        except BaseException:  # noqa: BLE001 - the picker then offers no drafts, and asks again next time
            log.exception("looking for draft models")
            found = None
        self.drafts_found.emit(request, found)


def draft_candidates(folders: Sequence[str], loaded: str) -> tuple[str, ...]:
    """The installed models that might draft for ``loaded`` (never the model itself)."""
    return tuple(f for f in folders if f and f != loaded)
