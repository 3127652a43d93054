"""The context-budget bar above the composer: where the next prompt's tokens go.

A thin stacked bar (system prompt, history, each attached document, the message, the
template's own tokens, the reply's reserve, free space), a legend that names every part
with its count, and a line saying what the overflow policy will drop or cut. Colour is
never the only signal: the legend and each segment's tooltip carry the names and numbers,
the reply's reserve is hatched and free space is left empty.
"""

from __future__ import annotations

from html import escape

from PySide6.QtCore import QEvent, QRectF, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QHelpEvent, QPainter, QPen
from PySide6.QtWidgets import QLabel, QToolTip, QVBoxLayout, QWidget

from engine.generation.budget import ContextBudget, Segment

# Mid-tone colours that read on the light and the dark theme alike.
KIND_COLORS = {"system": "#8e6bbf", "history": "#4f86c6", "message": "#3fa36b", "template": "#9aa0a6",
               "reserve": "#c56fa0", "free": ""}
DOCUMENT_COLORS = ("#e0913a", "#c9a227", "#d46a6a", "#b07a3f")
OVER_COLOR = "#d93b2b"
DESCRIPTIONS = {
    "system": "the system prompt",
    "history": "the earlier messages of this chat, with their documents",
    "document": "attached to this message",
    "message": "what you are writing",
    "template": "the chat template's role markers (and any default system prompt it adds) and the headings "
                "Hearth puts around documents",
    "reserve": "kept free for the reply",
    "free": "left over",
}


def segment_color(segment: Segment, document_index: int) -> str:
    if segment.kind == "document":
        return DOCUMENT_COLORS[document_index % len(DOCUMENT_COLORS)]
    return KIND_COLORS[segment.kind]


def segment_tooltip(segment: Segment, context: int) -> str:
    """``report.pdf: 1,234 tokens (15% of 8,192), attached to this message; pages 4-9 not included``."""
    share = 100 * segment.tokens / context if context else 0
    text = f"{segment.label}: {segment.tokens:,} tokens ({share:.0f}% of {context:,}), {DESCRIPTIONS[segment.kind]}"
    return text + (f"; {segment.detail}" if segment.detail else "")


def visible_segments(budget: ContextBudget) -> list[Segment]:
    """The parts worth drawing: empty prompt parts are left out; reply and free always show."""
    return [s for s in budget.segments if s.tokens or s.kind in ("reserve", "free")]


class StackedBar(QWidget):
    """The bar itself; hovering a segment shows its tooltip."""

    HEIGHT = 10

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.budget: ContextBudget | None = None
        self.setFixedHeight(self.HEIGHT)
        self.setMouseTracking(True)

    def sizeHint(self) -> QSize:
        return QSize(400, self.HEIGHT)

    def show_budget(self, budget: ContextBudget | None) -> None:
        self.budget = budget
        self.update()

    def layout_segments(self) -> list[tuple[QRectF, Segment, str]]:
        """Each drawn segment's rectangle and colour; the scale is the context (or more, when over it)."""
        budget = self.budget
        if budget is None:
            return []
        parts = visible_segments(budget)
        scale = max(budget.context, sum(s.tokens for s in parts), 1)
        x, width, out, docs = 0.0, float(self.width()), [], 0
        for segment in parts:
            w = width * segment.tokens / scale
            out.append((QRectF(x, 0, w, self.height()), segment, segment_color(segment, docs)))
            docs += segment.kind == "document"
            x += w
        return out

    def segment_at(self, x: float) -> Segment | None:
        return next((s for rect, s, _ in self.layout_segments() if rect.left() <= x < rect.right()), None)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        border = self.palette().mid().color()
        painter.setPen(QPen(border, 1))
        painter.setBrush(self.palette().base())
        painter.drawRect(QRectF(0.5, 0.5, self.width() - 1, self.height() - 1))
        budget = self.budget
        if budget is None:
            return
        painter.setPen(Qt.PenStyle.NoPen)
        for rect, segment, color in self.layout_segments():
            if segment.kind == "free":
                continue  # empty space reads as free without any colour
            if segment.kind == "reserve":
                painter.setBrush(QBrush(QColor(color), Qt.BrushStyle.BDiagPattern))
            else:
                painter.setBrush(QColor(color))
            painter.drawRect(rect)
        prompt_and_reply = sum(s.tokens for s in visible_segments(budget) if s.kind != "free")
        if prompt_and_reply > budget.context:  # the part past the context, marked in red
            edge = self.width() * budget.context / prompt_and_reply
            painter.setPen(QPen(QColor(OVER_COLOR), 2))
            painter.drawLine(int(edge), 0, int(edge), self.height())
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QBrush(QColor(OVER_COLOR), Qt.BrushStyle.Dense5Pattern))
            painter.drawRect(QRectF(edge, 0, self.width() - edge, self.height()))

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            segment = self.segment_at(event.position().x() if hasattr(event, "position") else event.x())
            if segment is not None and self.budget is not None:
                QToolTip.showText(event.globalPos(), segment_tooltip(segment, self.budget.context), self)
            else:
                QToolTip.hideText()
            return True
        return super().event(event)


class BudgetBar(QWidget):
    """The bar, its legend and the overflow line; ``show_budget(None)`` hides it all."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("BudgetBar")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 2)
        layout.setSpacing(2)
        self.bar = StackedBar()
        layout.addWidget(self.bar)
        self.legend = QLabel("")
        self.legend.setObjectName("BudgetLegend")
        self.legend.setWordWrap(True)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.legend)
        self.outcome = QLabel("")
        self.outcome.setObjectName("BudgetOutcome")
        self.outcome.setWordWrap(True)
        self.outcome.setVisible(False)
        layout.addWidget(self.outcome)
        self.budget: ContextBudget | None = None
        self.setVisible(False)

    def show_budget(self, budget: ContextBudget | None) -> None:
        self.budget = budget
        self.bar.show_budget(budget)
        self.setVisible(budget is not None)
        if budget is None:
            return
        summary = self.summary()
        self.legend.setText(self._legend_html(budget))
        self.legend.setToolTip("\n".join(segment_tooltip(s, budget.context) for s in visible_segments(budget)))
        self.bar.setAccessibleName("Context budget")
        self.bar.setAccessibleDescription(summary)
        self.outcome.setText(budget.outcome)
        self.outcome.setProperty("blocking", not budget.sendable)
        self.outcome.style().unpolish(self.outcome)
        self.outcome.style().polish(self.outcome)
        self.outcome.setVisible(bool(budget.outcome))

    def summary(self) -> str:
        """The whole split as plain text: ``System prompt 12 · History 300 · … · Free 3,500 of 4,096 tokens``."""
        if self.budget is None:
            return ""
        parts = " · ".join(f"{s.label} {s.tokens:,}" for s in visible_segments(self.budget))
        return f"{parts} of {self.budget.context:,} tokens"

    def _legend_html(self, budget: ContextBudget) -> str:
        items, docs = [], 0
        for segment in visible_segments(budget):
            color = segment_color(segment, docs)
            docs += segment.kind == "document"
            mark = "▨" if segment.kind == "reserve" else "□" if segment.kind == "free" else "■"
            style = f"color:{color}" if color else ""
            items.append(f"<span style='{style}'>{mark}</span>&nbsp;{escape(segment.label)}&nbsp;{segment.tokens:,}")
        used = f"prompt {budget.prompt_tokens:,} of {budget.context:,} tokens"
        return " &nbsp;·&nbsp; ".join(items) + f" &nbsp;—&nbsp; {used}"
