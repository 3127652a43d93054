"""The window's keyboard shortcuts, and the Help → Keyboard shortcuts dialog that lists them.

``SHORTCUTS`` is the one list: the dialog shows it, and the window binds each entry's
command (``install_shortcuts``), so the two cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHeaderView, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

# (command name, keys as Qt reads them, what it does). Keys handled inside the composer
# (Enter, Shift+Enter, Up) are listed too, with ``None`` as their command.
SHORTCUTS: tuple[tuple[str | None, str, str], ...] = (
    ("new_chat", "Ctrl+N", "Start a new chat"),
    ("find", "Ctrl+F", "Search the chats"),
    ("regenerate", "Ctrl+R", "Write the last reply again (the old one stays as a version)"),
    ("copy_reply", "Ctrl+Shift+C", "Copy the last reply"),
    ("escape", "Esc", "Stop the reply, or cancel an edit"),
    ("delete_chat", "Del", "Delete the selected chat (in the chat list; asks first)"),
    ("shortcuts", "F1", "Show this list"),
    ("quit", "Ctrl+Q", "Quit Hearth"),
    (None, "Enter", "Send"),
    (None, "Shift+Enter", "A new line in the message"),
    (None, "Up", "Edit the last message (in an empty message box)"),
)


def key_text(keys: str) -> str:
    """The keys as this system writes them (⌘ on macOS)."""
    return QKeySequence(keys).toString(QKeySequence.SequenceFormat.NativeText)


class ShortcutsDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        layout = QVBoxLayout(self)
        self.table = QTableWidget(len(SHORTCUTS), 2)
        self.table.setHorizontalHeaderLabels(["Keys", "Does"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        for row, (_command, keys, text) in enumerate(SHORTCUTS):
            self.table.setItem(row, 0, QTableWidgetItem(key_text(keys)))
            self.table.setItem(row, 1, QTableWidgetItem(text))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(520, 400)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def rows(self) -> list[tuple[str, str]]:
        return [(self.table.item(r, 0).text(), self.table.item(r, 1).text()) for r in range(self.table.rowCount())]


def install_shortcuts(window: QWidget, chat_list: QWidget, commands: dict[str, Callable[[], object]]) -> None:
    """Bind every key in ``SHORTCUTS`` to its command on ``window``.

    Delete only works in the chat list (``delete_chat``): elsewhere it deletes text.
    """
    for command, keys, _text in SHORTCUTS:
        if command in commands and command != "delete_chat":
            QShortcut(QKeySequence(keys), window, activated=commands[command])
    QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), chat_list, activated=commands["delete_chat"],
              context=Qt.ShortcutContext.WidgetShortcut)
