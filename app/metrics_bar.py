"""The live metrics bar: TTFT, prefill and decode speed, speculation, tokens, context, cache, device.

Events can arrive a hundred times a second; the bar only stores the latest and
repaints from a timer, at most ``MAX_FPS`` times a second.
"""

from __future__ import annotations

import math
from collections import deque

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QSizePolicy, QVBoxLayout, QWidget

from engine.core.events import GenerationEvent, LoadReport, PrefillProgress

MAX_FPS = 10


class Sparkline(QWidget):
    """Decode tokens/s over the last samples, with its scale written beside the line.

    The vertical range is the samples' own (padded a little), not zero to the top, so a
    steady 40 tok/s with small wobbles is not a flat line on the floor; the labels on the
    left say what the top and bottom mean, and the tooltip has the numbers.
    """

    LABEL_WIDTH = 34

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.values: deque[float] = deque(maxlen=60)
        self.setMinimumSize(QSize(150, 30))
        self.setToolTip("Decode speed (tokens/s): no samples yet")

    def sizeHint(self) -> QSize:
        return QSize(180, 32)

    def scale(self) -> tuple[float, float]:
        """The bottom and top of the drawn range, rounded to whole tokens/s."""
        lo, hi = min(self.values), max(self.values)
        pad = max(1.0, (hi - lo) * 0.15, hi * 0.05)
        return max(0.0, math.floor(lo - pad)), math.ceil(hi + pad)

    def summary(self) -> str:
        if not self.values:
            return "Decode speed (tokens/s): no samples yet"
        v = list(self.values)
        return (f"Decode speed, last {len(v)} samples: now {v[-1]:.1f} tok/s · min {min(v):.1f} · "
                f"average {sum(v) / len(v):.1f} · max {max(v):.1f}")

    def add(self, value: float) -> None:
        self.values.append(value)
        self.setToolTip(self.summary())

    def clear(self) -> None:
        self.values.clear()
        self.setToolTip(self.summary())

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        if len(self.values) < 2:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        bottom, top = self.scale()
        font = painter.font()
        font.setPointSizeF(max(6.5, font.pointSizeF() * 0.75))
        painter.setFont(font)
        muted = self.palette().placeholderText().color()
        painter.setPen(muted)
        left = self.LABEL_WIDTH
        right_align = int(Qt.AlignmentFlag.AlignRight)
        painter.drawText(QRectF(0, 0, left - 4, self.height() / 2), right_align | int(Qt.AlignmentFlag.AlignTop),
                         f"{top:.0f}")
        painter.drawText(QRectF(0, self.height() / 2, left - 4, self.height() / 2),
                         right_align | int(Qt.AlignmentFlag.AlignBottom), f"{bottom:.0f}")
        w, h = self.width() - left - 2, self.height() - 4
        painter.drawLine(QPointF(left, 2), QPointF(left, 2 + h))  # the axis the labels belong to
        step = w / (self.values.maxlen - 1)  # type: ignore[operator]
        start = left + w - step * (len(self.values) - 1)
        path = QPainterPath()
        for i, value in enumerate(self.values):
            point = QPointF(start + i * step, 2 + h - h * (value - bottom) / (top - bottom))
            path.moveTo(point) if i == 0 else path.lineTo(point)
        color = self.palette().highlight().color()
        area = QPainterPath(path)
        area.lineTo(QPointF(left + w, 2 + h))
        area.lineTo(QPointF(start, 2 + h))
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
        self.speculation = QLabel("")  # acceptance and speed-up, while a reply is decoded speculatively
        self.speculation.setObjectName("SpeculationRate")
        self.speculation.setToolTip("Speculative decoding: the share of guessed tokens the model confirmed, and "
                                    "how much faster than one step per token (— until there is enough to tell)")
        self.speculation.setVisible(False)
        self.tokens = QLabel("0 tokens")
        self.cached = QLabel("cached –")
        # The figures sit above a thin bar, not inside it, so the fill never covers them.
        self.context_label = QLabel("context –")
        self.context = QProgressBar()
        self.context.setTextVisible(False)
        self.context.setFixedHeight(5)
        context_box = QWidget()
        context_box.setFixedWidth(170)
        stack = QVBoxLayout(context_box)
        stack.setContentsMargins(0, 0, 0, 0)
        stack.setSpacing(1)
        stack.addWidget(self.context_label)
        stack.addWidget(self.context)
        self.device = QLabel("no model")
        self.device.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.device.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.sparkline = Sparkline()
        self.server = QLabel("")  # the local server's load, while it runs
        self.server.setObjectName("ServerLoad")
        self.server.setVisible(False)
        for w in (self.ttft, self.prefill, self.decode, self.speculation, self.tokens, self.cached):
            layout.addWidget(w)
        layout.addWidget(context_box)
        layout.addWidget(self.sparkline)
        layout.addWidget(self.server)
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
        if report.provider == "remote":
            text = report.device  # "remote: gpu-box:8000"
        elif report.device and report.device.lower() != report.provider.lower():
            text += f" · {report.device}"  # "CUDA · RTX 4070", not "CPU · CPU"
        if report.fallback_reasons:
            # The full reasons can be long; the tooltip has them.
            first = report.fallback_reasons[0]
            more = len(report.fallback_reasons) - 1
            text += f"  (fallback: {first[0]} {first[1]}" + (f"; +{more} more)" if more else ")")
        self.device.setText(text)
        self.device.setToolTip(f"Loaded in {report.load_seconds:.1f} s. {report.fallback_text}")

    def show_server(self, load: object | None) -> None:
        """The server's ``ServerLoad`` (active, queued, slots, decode_tps), or None: not serving."""
        if load is None:
            self.server.setVisible(False)
            return
        text = f"server {load.active}/{load.slots} active · {load.queued} queued · {load.decode_tps:.0f} tok/s"  # type: ignore[attr-defined]
        if text != self.server.text():
            self.server.setText(text)
            self.server.setToolTip("The local server: requests decoding (of its parallel slots), requests "
                                   "waiting for a slot, and the tokens per second of all of them together")
        self.server.setVisible(True)

    def clear(self) -> None:
        """No figures at all: a new chat, another chat, or another model."""
        self.reset()
        self.ttft.setText("TTFT –")
        self.prefill.setText("prefill – tok/s")
        self.decode.setText("decode – tok/s")
        self.tokens.setText("0 tokens")
        self.cached.setText("cached –")
        self.speculation.setVisible(False)
        self.context.setMaximum(1)
        self.context.setValue(0)
        self.context.setFormat("context –")
        self.sparkline.update()

    def reset(self) -> None:
        self._latest, self._prefill = None, None
        self.sparkline.clear()
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
            self._show_context(f"prefill {p.done:,}/{p.total:,}" if p else "context –")
            self.context.setMaximum(max(1, p.total if p else 1))
            self.context.setValue(p.done if p else 0)
            self.speculation.setVisible(False)  # a new reply: no guesses yet
            self.sparkline.update()
            return
        self.ttft.setText(f"TTFT {e.ttft_s * 1000:.0f} ms" if e.ttft_s is not None else "TTFT –")
        self.prefill.setText(f"prefill {e.prefill_tps:.0f} tok/s" if e.prefill_tps else "prefill – tok/s")
        self.decode.setText(f"decode {e.decode_tps:.1f} tok/s" if e.decode_tps else "decode – tok/s")
        self._show_speculation(e)
        self.tokens.setText(f"{e.generated_tokens} tokens")
        self.cached.setText(f"cached {e.cached_tokens}/{e.prompt_tokens}")
        self.context.setMaximum(max(1, e.context_size))
        self.context.setValue(min(e.context_used, e.context_size))
        self._show_context(f"context {e.context_used:,}/{e.context_size:,}")
        if e.decode_tps:
            self.sparkline.add(e.decode_tps)
        self.sparkline.update()

    def _show_speculation(self, e: GenerationEvent) -> None:
        text = speculation_text(e)
        if text and text != self.speculation.text():
            self.speculation.setText(text)
        self.speculation.setVisible(bool(text))

    def _show_context(self, text: str) -> None:
        self.context_label.setText(text)
        self.context.setToolTip(text)
        self.context_label.setToolTip("Tokens of the context in use / the context size" if "context" in text
                                      else "Prompt tokens read so far")


def speculation_text(event: GenerationEvent) -> str:
    """The acceptance rate and speed-up of a speculative reply ("accepted 82 % · 1.6× faster"); empty when
    nothing was drafted."""
    if event.drafted_tokens <= 0:
        return ""
    rate = 100 * event.accepted_tokens / event.drafted_tokens
    faster = f"{event.speedup:.1f}× faster" if event.speedup is not None else "— faster"
    return f"accepted {rate:.0f} % · {faster}"


def footer_text(event: GenerationEvent) -> str:
    """The line under a finished reply."""
    parts = []
    if event.ttft_s is not None:
        parts.append(f"TTFT {event.ttft_s * 1000:.0f} ms")
    if event.decode_tps:
        parts.append(f"{event.decode_tps:.1f} tok/s")
    parts.append(f"{event.generated_tokens} tokens")
    parts.append({"stop": "finished", "length": "hit max tokens", "context_full": "context full",
                  "cancelled": "stopped", "error": "cut off: incomplete"}.get(event.finish_reason or "", event.finish_reason or ""))
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


