"""The live metrics bar: TTFT, prefill and decode speed, tokens, context, cache, device.

Events can arrive a hundred times a second; the bar only stores the latest and
repaints from a timer, at most ``MAX_FPS`` times a second.
"""

from __future__ import annotations

from collections import deque

from PySide6.QtCore import QPointF, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QSizePolicy, QWidget

from engine.core.events import GenerationEvent, LoadReport, PrefillProgress

MAX_FPS = 10


class Sparkline(QWidget):
    """Tokens/s over the last samples."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.values: deque[float] = deque(maxlen=60)
        self.setMinimumSize(QSize(90, 22))
        self.setToolTip("Decode tokens/s, recent history")

    def sizeHint(self) -> QSize:
        return QSize(110, 24)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        if len(self.values) < 2:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        top = 1.15 * max(self.values) or 1.0  # headroom: a steady rate is not drawn along the edge
        w, h = self.width() - 2, self.height() - 4
        step = w / (self.values.maxlen - 1)
        start = w - step * (len(self.values) - 1)
        path = QPainterPath()
        for i, value in enumerate(self.values):
            point = QPointF(1 + start + i * step, 2 + h - h * value / top)
            path.moveTo(point) if i == 0 else path.lineTo(point)
        color = self.palette().highlight().color()
        # A faint area under the line, so a short flat history still reads as a chart.
        area = QPainterPath(path)
        area.lineTo(QPointF(1 + w, 2 + h))
        area.lineTo(QPointF(1 + start, 2 + h))
        area.closeSubpath()
        fill = QColor(color)
        fill.setAlpha(50)
        painter.fillPath(area, fill)
        painter.setPen(QPen(color, 1.6))
        painter.drawPath(path)


class MetricsBar(QWidget):
    """Shows the figures of the running (or last) request."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("MetricsBar")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 2, 8, 2)
        layout.setSpacing(14)
        self.ttft = QLabel("TTFT –")
        self.prefill = QLabel("prefill – tok/s")
        self.decode = QLabel("decode – tok/s")
        self.tokens = QLabel("0 tokens")
        self.cached = QLabel("cached –")
        self.context = QProgressBar()
        self.context.setFixedWidth(150)
        self.context.setTextVisible(True)
        self.context.setFormat("context –")
        self.device = QLabel("no model")
        self.device.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.device.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.sparkline = Sparkline()
        for w in (self.ttft, self.prefill, self.decode, self.tokens, self.cached):
            layout.addWidget(w)
        layout.addWidget(self.context)
        layout.addWidget(self.sparkline)
        layout.addWidget(self.device, 1)
        self._latest: GenerationEvent | None = None
        self._prefill: PrefillProgress | None = None
        self._dirty = False
        self.repaints = 0  # counted for the tests' rate check
        self._timer = QTimer(self)
        self._timer.setInterval(1000 // MAX_FPS)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._timer.start()

    def show_report(self, report: LoadReport | None) -> None:
        if report is None:
            self.device.setText("no model")
            self.device.setToolTip("")
            return
        text = report.provider.upper()
        if report.device and report.device.lower() != report.provider.lower():
            text += f" · {report.device}"  # "CUDA · RTX 4070", not "CPU · CPU"
        if report.fallback_reasons:
            # The full reasons can be long; the tooltip has them.
            first = report.fallback_reasons[0]
            more = len(report.fallback_reasons) - 1
            text += f"  (fallback: {first[0]} {first[1]}" + (f"; +{more} more)" if more else ")")
        self.device.setText(text)
        self.device.setToolTip(f"Loaded in {report.load_seconds:.1f} s. {report.fallback_text}")

    def clear(self) -> None:
        """No figures at all: a new chat, another chat, or another model."""
        self.reset()
        self.ttft.setText("TTFT –")
        self.prefill.setText("prefill – tok/s")
        self.decode.setText("decode – tok/s")
        self.tokens.setText("0 tokens")
        self.cached.setText("cached –")
        self.context.setMaximum(1)
        self.context.setValue(0)
        self.context.setFormat("context –")
        self.sparkline.update()

    def reset(self) -> None:
        self._latest, self._prefill = None, None
        self.sparkline.values.clear()
        self._dirty = True

    def show_prefill(self, progress: PrefillProgress) -> None:
        self._prefill = progress
        self._dirty = True

    def show_event(self, event: GenerationEvent) -> None:
        self._latest = event
        self._dirty = True

    def _on_timer_timeout(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        self.repaints += 1
        e = self._latest
        if e is None:
            p = self._prefill
            self.context.setFormat(f"prefill {p.done}/{p.total}" if p else "context –")
            self.context.setMaximum(max(1, p.total if p else 1))
            self.context.setValue(p.done if p else 0)
            self.sparkline.update()
            return
        self.ttft.setText(f"TTFT {e.ttft_s * 1000:.0f} ms" if e.ttft_s is not None else "TTFT –")
        self.prefill.setText(f"prefill {e.prefill_tps:.0f} tok/s" if e.prefill_tps else "prefill – tok/s")
        self.decode.setText(f"decode {e.decode_tps:.1f} tok/s" if e.decode_tps else "decode – tok/s")
        self.tokens.setText(f"{e.generated_tokens} tokens")
        self.cached.setText(f"cached {e.cached_tokens}/{e.prompt_tokens}")
        self.context.setMaximum(max(1, e.context_size))
        self.context.setValue(min(e.context_used, e.context_size))
        self.context.setFormat(f"context {e.context_used}/{e.context_size}")
        if e.decode_tps:
            self.sparkline.values.append(e.decode_tps)
        self.sparkline.update()


def footer_text(event: GenerationEvent) -> str:
    """The line under a finished reply."""
    parts = []
    if event.ttft_s is not None:
        parts.append(f"TTFT {event.ttft_s * 1000:.0f} ms")
    if event.decode_tps:
        parts.append(f"{event.decode_tps:.1f} tok/s")
    parts.append(f"{event.generated_tokens} tokens")
    parts.append({"stop": "finished", "length": "hit max tokens", "context_full": "context full",
                  "cancelled": "stopped", "error": "error"}.get(event.finish_reason or "", event.finish_reason or ""))
    return " · ".join(p for p in parts if p)


def stats_of(event: GenerationEvent) -> dict[str, float | int | str | None]:
    return {
        "ttft_s": event.ttft_s,
        "prefill_tps": event.prefill_tps,
        "decode_tps": event.decode_tps,
        "prompt_tokens": event.prompt_tokens,
        "cached_tokens": event.cached_tokens,
        "generated_tokens": event.generated_tokens,
        "finish_reason": event.finish_reason,
    }


def footer_from_stats(stats: dict) -> str:
    if not stats:
        return ""
    event = GenerationEvent("", None, int(stats.get("prompt_tokens") or 0), int(stats.get("cached_tokens") or 0),
                            int(stats.get("generated_tokens") or 0), 0, 0, ttft_s=stats.get("ttft_s"),
                            prefill_tps=stats.get("prefill_tps"), decode_tps=stats.get("decode_tps"),
                            finish_reason=stats.get("finish_reason"))
    return footer_text(event)


