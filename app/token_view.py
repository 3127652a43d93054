"""The token-probability view of a reply: each token shaded by how sure the model was.

Four levels, so the legend can name them: sure (90% or more, unshaded), likely, unsure,
and doubtful (under 20%), which also gets a wavy underline, so colour is never the only
signal. Hovering a token shows its probability and the top alternatives as text;
clicking it offers the alternatives, and choosing one asks to branch the reply there.
The view shows the reply as plain text (token boundaries cut through Markdown), and
colours for both themes.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from PySide6.QtCore import QEvent, QObject, QPoint, QUrl, Signal
from PySide6.QtGui import QColor, QCursor, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMenu, QTextBrowser, QToolButton, QToolTip, QVBoxLayout, QWidget

from app.token_probs import ReplyToken, fits, probability

# (lowest probability, name) of each level, surest first.
LEVELS = ((0.9, "90% or more"), (0.5, "50–90%"), (0.2, "20–50%"), (0.0, "under 20%"))
LOW = len(LEVELS) - 1  # the level that is underlined too
_SHADES = {  # level -> (light theme, dark theme) background; level 0 stays unshaded
    1: ("#fff0b3", "#4a4120"),
    2: ("#ffcf8a", "#6e4a17"),
    3: ("#ffaaa1", "#7d2b2b"),
}
_UNDERLINE = ("#b3261e", "#ff8a80")
_SPECIAL = re.compile(r"^<\|?/?[A-Za-z0-9_.-]+\|?>$")  # <|im_end|>, </s>, <eos>: the reply would end


def level(p: float) -> int:
    return next(i for i, (floor, _name) in enumerate(LEVELS) if p >= floor)


def shade(p: float, dark: bool) -> QColor | None:
    """The background for a token of probability ``p`` (None: unshaded)."""
    pair = _SHADES.get(level(p))
    return QColor(pair[dark]) if pair else None


def is_special(text: str) -> bool:
    return bool(_SPECIAL.match(text))


def shown(text: str) -> str:
    """A token's text as the tooltip and menu print it: spaces and line ends made visible."""
    if is_special(text):
        return f"{text} (end of reply)"
    return "“" + text.replace(" ", "␣").replace("\n", "↵").replace("\t", "⇥") + "”"


def tooltip_text(token: ReplyToken) -> str:
    """What hovering a token says (plain text: screen readers and both themes read it as is)."""
    p = token.probability
    lines = [f"{shown(token.text or token.step.chosen.text)}: {p:.1%}, {LEVELS[level(p)][1]}"
             + (" (low confidence)" if level(p) == LOW else "")]
    if token.step.top:
        lines.append("Top alternatives:")
        for n, alt in enumerate(token.step.top, 1):
            mark = "  ← chosen" if alt.token_id == token.token_id else ""
            lines.append(f"{n}. {shown(alt.text)}  {probability(alt):.1%}{mark}")
        lines.append("Click the token to continue from another one.")
    return "\n".join(lines)


def legend_html(dark: bool) -> str:
    swatches = []
    for i, (_floor, name) in enumerate(LEVELS):
        pair = _SHADES.get(i)
        style = f"background-color:{pair[dark]};" if pair else ""
        if i == LOW:
            style += "text-decoration: underline;"
        swatches.append(f'<span style="{style}">&nbsp;{html.escape(name)}&nbsp;</span>')
    return ("Probability: " + " ".join(swatches)
            + " · underlined: low confidence · hover a token for alternatives, click it to branch")


def render_tokens(body: QTextBrowser, tokens: Sequence[ReplyToken], content: str, dark: bool) -> None:
    """Fill ``body`` with ``content``, each token an anchor ``tok:<index>`` shaded by its probability."""
    doc = body.document()
    doc.clear()
    cursor = QTextCursor(doc)
    for i, token in enumerate(tokens):
        if not token.text:
            continue  # its character completes with a later token, which carries the text
        fmt = QTextCharFormat()
        fmt.setAnchor(True)
        fmt.setAnchorHref(f"tok:{i}")
        colour = shade(token.probability, dark)
        if colour is not None:
            fmt.setBackground(colour)
        if level(token.probability) == LOW:
            fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.WaveUnderline)
            fmt.setUnderlineColor(QColor(_UNDERLINE[dark]))
        fmt.setToolTip(tooltip_text(token))
        cursor.insertText(token.text, fmt)
    tail = content[sum(len(t.text) for t in tokens):]
    if tail:
        cursor.insertText(tail, QTextCharFormat())


class ProbabilityView(QObject):
    """A reply's toggle, legend, hover and click: the view's part of a message widget."""

    alternative_chosen = Signal(int, object)  # token index, the TokenLogprob chosen instead

    def __init__(self, body: QTextBrowser, header: QHBoxLayout, column: QVBoxLayout, parent: QWidget) -> None:
        super().__init__(parent)
        self.body = body
        self.tokens: tuple[ReplyToken, ...] = ()
        self.button = QToolButton()
        self.button.setText("Probabilities")
        self.button.setCheckable(True)
        self.button.setAutoRaise(True)
        self.button.setToolTip("Shade each token by how likely the model found it")
        self.button.setVisible(False)
        header.insertWidget(header.count() - 4, self.button)  # before the copy/edit/regenerate/continue actions
        self.legend = QLabel()
        self.legend.setObjectName("ProbabilityLegend")
        self.legend.setWordWrap(True)
        self.legend.setVisible(False)
        column.addWidget(self.legend)
        body.viewport().installEventFilter(self)
        body.anchorClicked.connect(self._on_body_anchor_clicked)

    def set_tokens(self, tokens: Sequence[ReplyToken], content: str) -> None:
        self.tokens = tuple(tokens) if fits(tokens, content) else ()
        self.button.setVisible(bool(self.tokens))

    def active(self) -> bool:
        return self.button.isChecked() and bool(self.tokens)

    def render(self, content: str, dark: bool) -> None:
        self.legend.setVisible(self.active())
        if self.active():
            self.legend.setText(legend_html(dark))
            render_tokens(self.body, self.tokens, content, dark)

    def token_at(self, pos: QPoint) -> int | None:
        href = self.body.anchorAt(pos)
        return int(href[4:]) if href.startswith("tok:") and href[4:].isdigit() else None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.ToolTip and self.active():
            index = self.token_at(event.pos())  # type: ignore[attr-defined]
            if index is not None and index < len(self.tokens):
                # Shown for the message, not the body: the body's transparent style would reach the tip.
                where = event.globalPos()  # type: ignore[attr-defined]
                QToolTip.showText(where, tooltip_text(self.tokens[index]), self.parent())
            else:
                QToolTip.hideText()
            return True
        return super().eventFilter(watched, event)

    def alternatives_menu(self, index: int) -> QMenu:
        """The menu a click on token ``index`` opens: branch the reply with another token there."""
        token = self.tokens[index]
        menu = QMenu(self.body)
        menu.setToolTipsVisible(True)
        menu.addSection(f"Continue with another token instead of {shown(token.text)}")
        for alt in token.step.top:
            action = menu.addAction(f"{shown(alt.text)}  {probability(alt):.1%}")
            chosen, special, remote = alt.token_id == token.token_id, is_special(alt.text), alt.token_id < 0
            action.setEnabled(not (chosen or special or remote))
            if chosen:
                action.setToolTip("The token the model chose")
            elif remote:
                action.setToolTip("A remote server does not say which token this is")
            action.triggered.connect(lambda _=False, a=alt: self.alternative_chosen.emit(index, a))
        return menu

    def _on_body_anchor_clicked(self, url: QUrl) -> None:
        if url.scheme() == "tok" and url.path().isdigit() and int(url.path()) < len(self.tokens):
            self.alternatives_menu(int(url.path())).popup(QCursor.pos())

