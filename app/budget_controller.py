"""Keeps the context-budget bar in step with what the next send would be.

A plain ``QObject``: it hears the composer (typing, attachments, edits), the chat (another
conversation, a finished reply), the model and the settings, and after a quiet moment
(``DEBOUNCE_MS``) asks the budget thread to measure the chat as ``ChatController.send``
would send it. The GUI thread only gathers the turns; the tokenizer and the chat template
run on the budget thread. Results that a newer request has overtaken are dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer

from app import presets
from app.budget_bar import BudgetBar
from app.budget_worker import BudgetCounter, BudgetRequest
from app.composer import Composer
from app.session import Session
from app.settings import ModelSettings
from app.state import AppState
from app.store import Store
from engine.generation.prompt import Turn

DEBOUNCE_MS = 250


class BudgetController(QObject):
    def __init__(self, session: Session, store: Store, backend: object, composer: Composer,
                 snapshot: Callable[[str | None], ModelSettings], conversation_id: Callable[[], int | None],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session, self.store, self.composer = session, store, composer
        self._snapshot, self._conversation_id = snapshot, conversation_id
        self.bar: BudgetBar = composer.budget_bar
        self.counter = BudgetCounter(backend, self)
        self.counter.measured.connect(self._on_counter_measured)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.measure_now)
        self._request_id = 0
        self._history: tuple[tuple[int | None, int | None], tuple[Turn, ...], tuple] | None = None
        self.requests_sent = 0  # how many measurements were asked for (tests read it)
        composer.edit.textChanged.connect(self.schedule)
        composer.attachments_changed.connect(self.schedule)
        session.state_changed.connect(self._on_session_state_changed)

    @classmethod
    def for_window(cls, window: Any) -> BudgetController:
        """Wire a controller into ``window`` (an ``app.main_window.MainWindow``)."""
        controller = cls(window.session, window.store, window.bridge.engine.backend, window.composer,
                         lambda model: presets.snapshot(window.settings, model, window.preset_bar.current()),
                         lambda: window.chats.conversation_id, window)
        window.chats.conversation_changed.connect(controller.forget_history)
        window.chats.reply_finished.connect(controller.forget_history)
        window.settings_panel.value_changed.connect(controller.schedule)
        window.preset_bar.changed.connect(controller.schedule)
        window.preset_bar.combo.currentIndexChanged.connect(controller.schedule)
        window.models.model_loaded.connect(controller.schedule)
        return controller

    # -- when to measure ---------------------------------------------------------------------
    def schedule(self, *_args: object) -> None:
        """Measure after ``DEBOUNCE_MS`` without another change (typing restarts the wait)."""
        self._timer.start()

    def forget_history(self, *_args: object) -> None:
        self._history = None
        self.schedule()

    def _on_session_state_changed(self, state: AppState) -> None:
        if state is AppState.IDLE:
            self.forget_history()

    # -- measuring ---------------------------------------------------------------------------
    def measure_now(self) -> None:
        self._timer.stop()
        loaded = self.session.loaded
        if loaded is None:
            self._request_id += 1  # a late result for an unloaded model must not show
            self.bar.show_budget(None)
            return
        snapshot = self._snapshot(loaded.info.name)
        turns = self._history_turns() + (self._new_turn(),)
        self._request_id += 1
        self.requests_sent += 1
        self.counter.request(BudgetRequest(self._request_id, loaded.info.path, snapshot.system_prompt, turns,
                                           snapshot.sampling(), snapshot.overflow_policy))  # type: ignore[arg-type]

    def _new_turn(self) -> Turn:
        """The message as Send would send it: the trimmed text and the documents read so far."""
        docs = tuple(a.document for a in self.composer.ready_documents() if a.document is not None)
        if not docs and self._history is not None:
            docs = self._history[2]  # an edit with no new attachments keeps the old message's
        return Turn("user", self.composer.text().strip(), docs)

    def _history_turns(self) -> tuple[Turn, ...]:
        """The turns before the new message, read from the store once per chat and reply."""
        key = (self._conversation_id(), self.composer.editing_message)
        if self._history is None or self._history[0] != key:
            self._history = (key, *self._read_history(*key))
        return self._history[1]

    def _read_history(self, conversation_id: int | None, editing: int | None) -> tuple[tuple[Turn, ...], tuple]:
        if conversation_id is None:
            return (), ()
        messages = self.store.messages(conversation_id)
        kept_docs: tuple = ()
        if editing is not None:  # an edit replaces that message and what followed it
            index = next((i for i, m in enumerate(messages) if m.id == editing), len(messages))
            if index < len(messages):
                kept_docs = tuple(a.document() for a in messages[index].attachments)
            messages = messages[:index]
        turns = tuple(Turn(m.role, m.content, tuple(a.document() for a in m.attachments))
                      for m in messages if m.role in ("user", "assistant"))
        return turns, kept_docs

    def _on_counter_measured(self, request_id: int, budget: object) -> None:
        if request_id != self._request_id:
            return  # overtaken by a newer request
        self.bar.show_budget(budget)  # type: ignore[arg-type]
        if budget is not None:
            self.composer.show_budget_note("")  # the bar says it better than the estimate

    def shutdown(self) -> None:
        self._timer.stop()
        self.counter.shutdown()
