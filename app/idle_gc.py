"""Python's full garbage collections, moved to moments when nobody is typing or waiting on a reply.

A full (generation-2) collection scans every tracked object while holding the GIL: in a
test process with about 170,000 objects one took 99 ms, during which the window could not
paint or take a key. Young generations stay automatic (they are short and reclaim most
garbage); the full one runs from a timer instead, once the chat is idle and the composer
has not been touched for a few seconds, and at the latest every few minutes.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer

CHECK_MS = 5_000
QUIET_S = 3.0  # no typing for this long
AT_MOST_EVERY_S = 60.0
AT_LEAST_EVERY_S = 300.0
NEVER = 2**31 - 1  # a generation-2 threshold no count reaches


class IdleCollector(QObject):
    """Runs ``gc.collect()`` when ``is_idle()`` and the user has been quiet; call ``touched`` on input."""

    def __init__(self, is_idle: Callable[[], bool], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._is_idle = is_idle
        self._last_input = self._last_full = time.monotonic()
        young, middle, _ = gc.get_threshold()
        gc.set_threshold(young, middle, NEVER)  # no automatic full collections from now on
        self._timer = QTimer(self)
        self._timer.setInterval(CHECK_MS)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._timer.start()

    def touched(self) -> None:
        self._last_input = time.monotonic()

    def _on_timer_timeout(self) -> None:
        now = time.monotonic()
        quiet = now - self._last_input >= QUIET_S and self._is_idle()
        if (quiet and now - self._last_full >= AT_MOST_EVERY_S) or now - self._last_full >= AT_LEAST_EVERY_S:
            gc.collect()
            self._last_full = time.monotonic()
