"""A heartbeat on the GUI thread: how long the thread went without running its timers."""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer


class Heartbeat:
    """Ticks every ``interval_ms``; ``gaps`` holds the time between ticks, in seconds."""

    def __init__(self, interval_ms: int = 10) -> None:
        self.gaps: list[float] = []
        self._last = time.perf_counter()
        self._timer = QTimer()
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._on_timer_timeout)

    def start(self) -> None:
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _on_timer_timeout(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self._last)
        self._last = now
