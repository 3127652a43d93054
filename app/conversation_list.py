"""The conversation list on the left: new, search (titles and text), rename, delete.

Chats are grouped under a header per day of their last message ("Today", "Yesterday",
the weekday within a week, then the date), and each shows its time, so chats with the
same title can be told apart.
"""

from __future__ import annotations

import datetime as dt

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.store import Store


class ConversationList(QWidget):
    selected = Signal(int)  # conversation id
    new_requested = Signal()
    rename_requested = Signal(int)
    delete_requested = Signal(int)

    def __init__(self, store: Store, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ConversationList")
        self.store = store
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        top = QHBoxLayout()
        self.new_button = QPushButton("＋ New chat")
        self.new_button.setToolTip("Start a new chat (Ctrl+N)")
        self.new_button.clicked.connect(self.new_requested)
        top.addWidget(self.new_button)
        layout.addLayout(top)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search chats…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda _text: self.reload())
        layout.addWidget(self.search)
        self.list = QListWidget()
        # Long titles end in "…" (the tooltip has them whole) rather than scrolling sideways.
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._on_list_context_menu)
        self.list.currentItemChanged.connect(self._on_list_current_changed)
        self.list.itemDoubleClicked.connect(self._on_list_double_clicked)
        layout.addWidget(self.list, 1)
        self._quiet = False
        self.reload()

    def reload(self, select: int | None = None) -> None:
        current = select if select is not None else self.current_id()
        self._quiet = True
        try:
            self.list.clear()
            today = dt.date.today()
            day = None
            for conv in self.store.conversations(self.search.text()):
                when = dt.datetime.fromtimestamp(conv.updated)
                if when.date() != day:
                    day = when.date()
                    self.list.addItem(_header(day_label(day, today)))
                item = QListWidgetItem(f"{conv.title}  ·  {when:%H:%M}")
                item.setData(Qt.ItemDataRole.UserRole, conv.id)
                started = dt.datetime.fromtimestamp(conv.created or conv.updated)
                item.setToolTip(f"{conv.title}\nstarted {started:%Y-%m-%d %H:%M}, last message {when:%Y-%m-%d %H:%M}")
                self.list.addItem(item)
                if conv.id == current:
                    self.list.setCurrentItem(item)
        finally:
            self._quiet = False

    def current_id(self) -> int | None:
        item = self.list.currentItem()
        return None if item is None or item.data(Qt.ItemDataRole.UserRole) is None else int(
            item.data(Qt.ItemDataRole.UserRole))

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    def ids(self) -> list[int]:
        items = (self.list.item(i) for i in range(self.list.count()))
        return [int(it.data(Qt.ItemDataRole.UserRole)) for it in items if it.data(Qt.ItemDataRole.UserRole) is not None]

    def headers(self) -> list[str]:
        items = (self.list.item(i) for i in range(self.list.count()))
        return [it.text() for it in items if it.data(Qt.ItemDataRole.UserRole) is None]

    def select_row_of(self, conversation_id: int) -> None:
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole) == conversation_id:
                self.list.setCurrentRow(i)

    def _on_list_current_changed(self, item: QListWidgetItem | None, _previous: object) -> None:
        if item is not None and item.data(Qt.ItemDataRole.UserRole) is not None and not self._quiet:
            self.selected.emit(int(item.data(Qt.ItemDataRole.UserRole)))

    def _on_list_double_clicked(self, item: QListWidgetItem) -> None:
        if item.data(Qt.ItemDataRole.UserRole) is not None:
            self.rename_requested.emit(int(item.data(Qt.ItemDataRole.UserRole)))

    def _on_list_context_menu(self, pos) -> None:
        item = self.list.itemAt(pos)
        if item is None or item.data(Qt.ItemDataRole.UserRole) is None:
            return
        conv_id = int(item.data(Qt.ItemDataRole.UserRole))
        menu = QMenu(self)
        menu.addAction("Rename…", lambda: self.rename_requested.emit(conv_id))
        menu.addAction("Delete…", lambda: self.delete_requested.emit(conv_id))
        menu.popup(self.list.mapToGlobal(pos))


def day_label(day: dt.date, today: dt.date) -> str:
    age = (today - day).days
    if age == 0:
        return "Today"
    if age == 1:
        return "Yesterday"
    if 1 < age < 7:
        return f"{day:%A}"
    return f"{day:%d %B %Y}".lstrip("0")


def _header(text: str) -> QListWidgetItem:
    """A day's header: not selectable, drawn apart from the chats."""
    item = QListWidgetItem(text)
    item.setFlags(Qt.ItemFlag.NoItemFlags)
    font = item.font()
    font.setBold(True)
    font.setPointSizeF(max(7.0, font.pointSizeF() * 0.9))
    item.setFont(font)
    return item
