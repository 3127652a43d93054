"""The conversation in the centre: one widget per message, plus notices.

A streaming reply is re-rendered from a timer (at most ``RENDER_HZ`` times a
second), not per token, so long Markdown replies never slow the GUI thread down.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QGuiApplication, QTextOption
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.citation_chips import CitationRow
from app.markdown import code_blocks, to_html
from app.token_probs import ReplyToken
from app.token_view import ProbabilityView

RENDER_HZ = 10


class MessageBody(QTextBrowser):
    """A read-only rich-text block that grows to fit its text."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.viewport().setAutoFillBackground(False)
        self.setStyleSheet("background: transparent;")
        self.document().documentLayout().documentSizeChanged.connect(self._fit)

    def _fit(self) -> None:
        height = int(self.document().size().height()) + 6
        if height != self.height():
            self.setFixedHeight(height)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self.document().setTextWidth(self.viewport().width())
        self._fit()

    def sizeHint(self) -> QSize:
        return QSize(400, int(self.document().size().height()) + 6)


class MessageWidget(QFrame):
    """One message: who, the text, attachments, actions and (for replies) a stats footer."""

    copy_requested = Signal(str)
    edit_requested = Signal(int)  # message id
    regenerate_requested = Signal()
    continue_requested = Signal()
    version_requested = Signal(int, int)  # message id, step (-1 the previous version, +1 the next)
    alternative_requested = Signal(int, int, object)  # message id, token index, the TokenLogprob chosen

    def __init__(self, message_id: int, role: str, text: str, title: str, dark: bool,
                 attachments: list[str] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.message_id = message_id
        self.role = role
        self.text = text
        self.dark = dark
        self.finish_reason: str | None = None  # "length": the reply may be continued
        self.setObjectName("UserMessage" if role == "user" else "AssistantMessage")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(4)
        header = QHBoxLayout()
        who = QLabel(f"<b>{title}</b>")
        header.addWidget(who)
        header.addStretch(1)
        self.previous_button = self._action("‹", "The previous version", header)
        self.previous_button.clicked.connect(lambda: self.version_requested.emit(self.message_id, -1))
        self.version_label = QLabel("")
        self.version_label.setObjectName("VersionLabel")
        header.addWidget(self.version_label)
        self.next_button = self._action("›", "The next version", header)
        self.next_button.clicked.connect(lambda: self.version_requested.emit(self.message_id, 1))
        self.set_version(1, 1)
        self.copy_button = self._action("Copy", "Copy this message as Markdown", header)
        self.copy_button.clicked.connect(lambda: self.copy_requested.emit(self.text))
        self.edit_button = self._action("Edit", "Edit this message and run it again", header)
        self.edit_button.clicked.connect(lambda: self.edit_requested.emit(self.message_id))
        self.edit_button.setVisible(role == "user")
        self.regenerate_button = self._action("Regenerate", "Write this reply again", header)
        self.regenerate_button.clicked.connect(self.regenerate_requested.emit)
        self.regenerate_button.setVisible(False)
        self.continue_button = self._action("Continue", "Carry on this reply where it stopped", header)
        self.continue_button.clicked.connect(self.continue_requested.emit)
        self.continue_button.setVisible(False)
        layout.addLayout(header)
        if attachments:
            chips = QLabel("Attached: " + ", ".join(attachments))
            chips.setObjectName("AttachmentLine")
            chips.setWordWrap(True)
            layout.addWidget(chips)
        self.body = MessageBody()
        self.body.anchorClicked.connect(self._on_body_anchor_clicked)
        layout.addWidget(self.body)
        self.probabilities = ProbabilityView(self.body, header, layout, self)
        self.probabilities.button.toggled.connect(lambda _on: self.render())
        self.probabilities.alternative_chosen.connect(
            lambda index, alt: self.alternative_requested.emit(self.message_id, index, alt))
        self.citations = CitationRow()  # the excerpts a reply was given, as chips
        layout.addWidget(self.citations)
        self.footer = QLabel("")
        self.footer.setObjectName("ReplyFooter")
        self.footer.setVisible(False)
        layout.addWidget(self.footer)
        self.render()

    @staticmethod
    def _action(text: str, tip: str, layout: QHBoxLayout) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.setAutoRaise(True)
        layout.addWidget(button)
        return button

    def set_text(self, text: str) -> None:
        self.text = text

    def set_version(self, version: int, count: int) -> None:
        """Show ‹ version/count › when there is more than one version."""
        self.version, self.version_count = version, count
        self.version_label.setText(f"{version}/{count}")
        for w in (self.previous_button, self.version_label, self.next_button):
            w.setVisible(count > 1)
        self.previous_button.setEnabled(version > 1)
        self.next_button.setEnabled(version < count)

    def set_tokens(self, tokens: tuple[ReplyToken, ...], show: bool | None = None) -> None:
        """The reply's tokens with their probabilities; ``show`` turns the view on or off."""
        self.probabilities.set_tokens(tokens, self.text)
        if show is not None:
            self.probabilities.button.setChecked(show)
        if self.probabilities.active():
            self.render()

    def render(self) -> None:
        self.probabilities.render(self.text, self.dark)  # the token view if it is on; else it hides its legend
        if self.probabilities.active():
            return
        if self.role == "user":
            self.body.setPlainText(self.text)
        else:
            self.body.setHtml(to_html(self.text, self.dark) if self.text else "<i>…</i>")

    def set_footer(self, text: str) -> None:
        self.footer.setText(text)
        self.footer.setVisible(bool(text))

    def _on_body_anchor_clicked(self, url: QUrl) -> None:
        if url.scheme() == "copy":
            blocks = code_blocks(self.text)
            index = int(url.path() or 0)
            if index < len(blocks):
                self.copy_requested.emit(blocks[index])


class NoticeWidget(QFrame):
    """An error or warning, shown apart from any reply text."""

    def __init__(self, text: str, level: str = "error", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ErrorNotice" if level == "error" else "InfoNotice")
        self.level = level
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 6, 6, 6)
        self.label = QLabel(("Error: " if level == "error" else "") + text)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.label, 1)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.clicked.connect(self.deleteLater)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)

    @property
    def text(self) -> str:
        return self.label.text()


class ChatView(QScrollArea):
    """Messages of the open conversation, newest at the bottom."""

    edit_requested = Signal(int)
    regenerate_requested = Signal()
    continue_requested = Signal()
    version_requested = Signal(int, int)  # message id, step
    alternative_requested = Signal(int, int, object)  # message id, token index, TokenLogprob
    copied = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ChatView")
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.dark = False
        self.probabilities_on = False  # replies open in the token-probability view (a setting)
        inner = QWidget()
        inner.setObjectName("ChatInner")
        self.column = QVBoxLayout(inner)
        self.column.setContentsMargins(16, 12, 16, 12)
        self.column.setSpacing(10)
        self.column.addStretch(1)
        self.setWidget(inner)
        self.messages: list[MessageWidget] = []
        self.notices: list[NoticeWidget] = []
        self._streaming: MessageWidget | None = None
        self._dirty = False
        self._follow = True
        self._timer = QTimer(self)
        self._timer.setInterval(1000 // RENDER_HZ)
        self._timer.timeout.connect(self._on_timer_timeout)
        self.verticalScrollBar().rangeChanged.connect(self._on_range_changed)
        self.verticalScrollBar().valueChanged.connect(self._on_scrolled)

    # -- building ----------------------------------------------------------------------
    def clear(self) -> None:
        for w in self.messages + self.notices:
            w.setParent(None)
            w.deleteLater()
        self.messages, self.notices = [], []
        self._streaming = None

    def add_message(self, message_id: int, role: str, text: str, title: str,
                    attachments: list[str] | None = None, footer: str = "") -> MessageWidget:
        widget = MessageWidget(message_id, role, text, title, self.dark, attachments)
        widget.copy_requested.connect(self._on_message_copy_requested)
        widget.edit_requested.connect(self.edit_requested)
        widget.regenerate_requested.connect(self.regenerate_requested)
        widget.continue_requested.connect(self.continue_requested)
        widget.version_requested.connect(self.version_requested)
        widget.alternative_requested.connect(self.alternative_requested)
        widget.set_footer(footer)
        self.column.insertWidget(self.column.count() - 1, widget)
        self.messages.append(widget)
        self._follow = True
        self.refresh_actions(True)
        return widget

    def add_notice(self, text: str, level: str = "error") -> NoticeWidget:
        notice = NoticeWidget(text, level)
        self.column.insertWidget(self.column.count() - 1, notice)
        self.notices.append(notice)
        notice.destroyed.connect(lambda *_: self.notices.remove(notice) if notice in self.notices else None)
        self._follow = True
        return notice

    def remove_message(self, widget: MessageWidget) -> None:
        if widget in self.messages:
            self.messages.remove(widget)
        if widget is self._streaming:
            self._streaming = None
        widget.setParent(None)
        widget.deleteLater()

    def remove_from(self, message_id: int) -> None:
        """Drop the message with ``message_id`` and all after it."""
        for widget in [m for m in self.messages if m.message_id >= message_id]:
            self.remove_message(widget)

    def refresh_actions(self, idle: bool) -> None:
        """Only the last reply can be regenerated or continued, and only when nothing runs."""
        for i, widget in enumerate(self.messages):
            last = i == len(self.messages) - 1
            widget.regenerate_button.setVisible(widget.role == "assistant" and last and idle)
            widget.continue_button.setVisible(widget.role == "assistant" and last and idle
                                              and widget.finish_reason == "length")
            widget.edit_button.setEnabled(idle)
            widget.previous_button.setEnabled(idle and widget.version > 1)
            widget.next_button.setEnabled(idle and widget.version < widget.version_count)

    # -- streaming -----------------------------------------------------------------------
    def begin_stream(self, widget: MessageWidget) -> None:
        self._streaming = widget
        self._timer.start()

    def append_stream(self, text: str) -> None:
        if self._streaming is not None:
            self._streaming.set_text(self._streaming.text + text)
            self._dirty = True

    def end_stream(self) -> None:
        self._timer.stop()
        if self._streaming is not None:
            self._streaming.render()
        self._streaming = None
        self._dirty = False

    def _on_timer_timeout(self) -> None:
        if self._dirty and self._streaming is not None:
            self._dirty = False
            self._streaming.render()

    def set_dark(self, dark: bool) -> None:
        self.dark = dark
        for widget in self.messages:
            widget.dark = dark
            widget.render()

    # -- scrolling and copying -------------------------------------------------------
    def _on_scrolled(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self._follow = value >= bar.maximum() - 24

    def _on_range_changed(self, _low: int, high: int) -> None:
        if self._follow:
            self.verticalScrollBar().setValue(high)

    def _on_message_copy_requested(self, text: str) -> None:
        QGuiApplication.clipboard().setText(text)
        self.copied.emit(text)
