"""Issue 12, item 12: the sparkline has a scale and a tooltip; the context figures are not under the fill."""

from __future__ import annotations

from PySide6.QtCore import QPoint

from app.metrics_bar import MetricsBar
from engine.core.events import GenerationEvent


def test_sparkline_scale_and_tooltip(qtbot):
    bar = MetricsBar()
    qtbot.addWidget(bar)
    assert "no samples" in bar.sparkline.toolTip()
    for i, tps in enumerate((38.0, 41.0, 40.0, 39.5)):
        bar.show_event(GenerationEvent("x", i, 5, 0, i, 5 + i, 1024, decode_tps=tps))
        bar._on_timer_timeout()
    bottom, top = bar.sparkline.scale()
    # The range hugs the samples (not 0 to 1.15 × max), so small changes are visible, and it contains them all.
    assert 30 <= bottom <= 38 and 41 <= top <= 46
    tip = bar.sparkline.toolTip()
    assert "now 39.5 tok/s" in tip and "min 38.0" in tip and "max 41.0" in tip and "last 4 samples" in tip
    bar.reset()
    assert "no samples" in bar.sparkline.toolTip()


def test_context_figures_are_not_drawn_inside_the_fill(qtbot):
    bar = MetricsBar()
    qtbot.addWidget(bar)
    bar.show()
    bar.show_event(GenerationEvent("x", 1, 900, 0, 1, 1000, 1024, decode_tps=30.0))
    bar._on_timer_timeout()
    assert bar.context_label.text() == "context 1,000/1,024"
    assert not bar.context.isTextVisible() and bar.context.value() == 1000
    label = bar.context_label.geometry()
    fill = bar.context.geometry()
    assert label.bottom() < fill.top()  # the text sits above the bar, never on its fill
    assert bar.context_label.mapTo(bar, QPoint(0, 0)).x() == bar.context.mapTo(bar, QPoint(0, 0)).x()
