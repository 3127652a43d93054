"""Where the user writes: the text box, attachment chips and the send/stop button.

Enter sends, Shift+Enter starts a new line, Esc stops a running reply or cancels an edit,
Up in an empty box edits the last message sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.budget_bar import BudgetBar
from engine.documents import Document


@dataclass(frozen=True)
class PendingAttachment:
    """A dropped file: still extracting (``document is None``) or ready."""

    request_id: int
    name: str
    document: Document | None = None
    tokens: int = 0
    indexed: float | None = None  # share of its chunks embedded so far, while that runs


class PromptEdit(QPlainTextEdit):
    submitted = Signal()
    stop_pressed = Signal()
    up_pressed_empty = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                self.insertPlainText("\n")
            else:
                self.submitted.emit()
            return
        if event.key() == Qt.Key.Key_Escape:
            self.stop_pressed.emit()
            return
        if event.key() == Qt.Key.Key_Up and not self.toPlainText() and not event.modifiers():
            self.up_pressed_empty.emit()
            return
        super().keyPressEvent(event)


class Chip(QFrame):
    removed = Signal(int)

    def __init__(self, item: PendingAttachment, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Chip")
        self.request_id = item.request_id
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 2, 2, 2)
        self.label = QLabel()
        layout.addWidget(self.label)
        self.close_button = close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.clicked.connect(lambda: self.removed.emit(self.request_id))
        layout.addWidget(close)
        self.update_item(item)

    def update_item(self, item: PendingAttachment) -> None:
        if item.document is None:
            self.label.setText(f"{item.name} · reading…")
            self.close_button.setToolTip("Stop reading and remove this attachment")
        else:
            indexing = f" · indexing {item.indexed:.0%}" if item.indexed is not None and item.indexed < 1 else ""
            self.label.setText(f"{item.name} · {item.tokens:,} tokens{indexing}")
            self.close_button.setToolTip("Remove this attachment")
        # How the file was read, when that was a guess (say, a legacy encoding).
        self.label.setToolTip(item.document.note if item.document is not None else "")


class Composer(QWidget):
    """The bottom of the chat: chips, the prompt box, attach and send/stop buttons."""

    send_requested = Signal(str)
    stop_requested = Signal()
    attach_requested = Signal()
    attachment_removed = Signal(int)
    attachments_changed = Signal()  # added, read, removed or cleared
    edit_cancelled = Signal()
    edit_last_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Composer")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 6, 12, 10)
        outer.setSpacing(4)
        self.edit_banner = QLabel("")
        self.edit_banner.setObjectName("EditBanner")
        self.edit_banner.setVisible(False)
        outer.addWidget(self.edit_banner)
        self.budget_bar = BudgetBar()  # filled by app/budget_controller.py
        outer.addWidget(self.budget_bar)
        self.budget_note = QLabel("")
        self.budget_note.setObjectName("BudgetNote")
        self.budget_note.setWordWrap(True)
        self.budget_note.setVisible(False)
        outer.addWidget(self.budget_note)
        self.chip_row = QHBoxLayout()
        self.chip_row.setSpacing(6)
        self.chip_row.addStretch(1)
        outer.addLayout(self.chip_row)
        row = QHBoxLayout()
        self.attach_button = QToolButton()
        self.attach_button.setText("Attach…")
        self.attach_button.setToolTip("Attach documents (or drop files on the window)")
        self.attach_button.clicked.connect(self.attach_requested)
        row.addWidget(self.attach_button, 0, Qt.AlignmentFlag.AlignBottom)
        self.edit = PromptEdit()
        self.edit.setPlaceholderText("Ask anything — Enter to send, Shift+Enter for a new line")
        self.edit.setFixedHeight(72)
        self.edit.submitted.connect(self._on_edit_submitted)
        self.edit.stop_pressed.connect(self._on_edit_stop_pressed)
        self.edit.up_pressed_empty.connect(self.edit_last_requested)
        row.addWidget(self.edit, 1)
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("SendButton")
        self.send_button.clicked.connect(self._on_edit_submitted)
        row.addWidget(self.send_button, 0, Qt.AlignmentFlag.AlignBottom)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("StopButton")
        self.stop_button.setToolTip("Stop the reply (Esc)")
        self.stop_button.clicked.connect(self.stop_requested)
        self.stop_button.setVisible(False)
        row.addWidget(self.stop_button, 0, Qt.AlignmentFlag.AlignBottom)
        outer.addLayout(row)
        self.send_hint = QLabel("")
        self.send_hint.setObjectName("SendHint")
        self.send_hint.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.send_hint.setVisible(False)
        outer.addWidget(self.send_hint)
        self._can_send, self._why_not = False, ""
        self.attachments: dict[int, PendingAttachment] = {}
        self._chips: dict[int, Chip] = {}
        self.editing_message: int | None = None
        self._draft = ""  # what the box held before an edit began; Esc brings it back

    # -- sending -----------------------------------------------------------------------
    def text(self) -> str:
        return self.edit.toPlainText()

    def set_text(self, text: str) -> None:
        self.edit.setPlainText(text)

    def _on_edit_submitted(self) -> None:
        text = self.text().strip()
        if text and self.send_button.isEnabled():
            self.send_requested.emit(text)

    def _on_edit_stop_pressed(self) -> None:
        if self.stop_button.isVisible() and self.stop_button.isEnabled():
            self.stop_requested.emit()
        else:
            self.cancel_edit()

    def cancel_edit(self) -> bool:
        """Esc during an edit: the message stays as it was and the box gets its draft back."""
        if self.editing_message is None:
            return False
        self.end_edit()
        self.set_text(self._draft)
        self.edit_cancelled.emit()
        return True

    def set_answering(self, answering: bool, can_send: bool, stopping: bool = False, why_not: str = "") -> None:
        """``why_not`` says why Send is off (shown as its tooltip and under the box) when ``can_send`` is False."""
        self._can_send, self._why_not = can_send, why_not
        self.send_button.setVisible(not answering)
        self.stop_button.setVisible(answering)
        self.stop_button.setEnabled(answering and not stopping)
        self._refresh_send()

    def _refresh_send(self) -> None:
        reading = self.extracting()
        why = "" if self._can_send else self._why_not
        if self._can_send and reading:
            why = "Still reading the attached files; Send works once they are read."
        self.send_button.setEnabled(self._can_send and not reading)
        self.send_button.setToolTip(why or "Send (Enter)")
        self.send_hint.setText(why)
        self.send_hint.setVisible(bool(why) and not self.send_button.isHidden())

    def begin_edit(self, message_id: int, text: str) -> None:
        if self.editing_message is None:
            self._draft = self.text()
        self.editing_message = message_id
        self.set_text(text)
        self.edit_banner.setText("Editing a message: Enter sends it as a new version (the old one stays, "
                                 "under ‹ ›); Esc cancels.")
        self.edit_banner.setVisible(True)
        self.edit.setFocus()

    def end_edit(self, clear: bool = False) -> None:
        """Leave edit mode; ``clear`` also empties the box if it held the edited text."""
        if clear and self.editing_message is not None:
            self.set_text(self._draft)
        self.editing_message = None
        self._draft = ""
        self.edit_banner.setVisible(False)

    # -- attachments ------------------------------------------------------------------
    def add_attachment(self, item: PendingAttachment) -> None:
        self.attachments[item.request_id] = item
        if item.request_id in self._chips:
            self._chips[item.request_id].update_item(item)
            self._refresh_send()
            self.attachments_changed.emit()
            return
        chip = Chip(item)
        chip.removed.connect(self.remove_attachment)
        self._chips[item.request_id] = chip
        self.chip_row.insertWidget(self.chip_row.count() - 1, chip)
        self._refresh_send()
        self.attachments_changed.emit()

    def remove_attachment(self, request_id: int) -> None:
        self.attachments.pop(request_id, None)
        chip = self._chips.pop(request_id, None)
        if chip is not None:
            chip.setParent(None)
            chip.deleteLater()
        self._refresh_send()
        self.attachment_removed.emit(request_id)
        self.attachments_changed.emit()

    def ready_documents(self) -> list[PendingAttachment]:
        return [a for a in self.attachments.values() if a.document is not None]

    def extracting(self) -> bool:
        return any(a.document is None for a in self.attachments.values())

    def clear_attachments(self) -> None:
        for request_id in list(self.attachments):
            chip = self._chips.pop(request_id, None)
            if chip is not None:
                chip.setParent(None)
                chip.deleteLater()
        self.attachments.clear()
        self._refresh_send()
        self.show_budget_note("")
        self.attachments_changed.emit()

    def show_budget_note(self, text: str) -> None:
        self.budget_note.setText(text)
        self.budget_note.setVisible(bool(text))


def why_send_is_off(loading: bool, has_model: bool) -> str:
    """The hint beside a greyed-out Send (empty when a model is ready)."""
    if loading:
        return "The model is loading; Send works once it is ready."
    if not has_model:
        return "No model loaded: pick one at the top and press Load."
    return ""
