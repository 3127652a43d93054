"""Count what void Qt calls do to ``sys.getrefcount(None)``, in a fresh interpreter.

PySide6-Essentials 6.12.0 under Python 3.11 drops one reference to ``None`` on every
Qt call that returns nothing. ``None`` is not immortal before Python 3.12, so after
enough calls the interpreter aborts ("deallocating None"). This script makes a few
thousand such calls, the ones the metrics bar makes while a reply streams, and prints
one JSON line per kind of call as soon as it is measured,
``{"call": name, "drops": n, "pyside6": version, "python": version}``, so a release
that leaks faster than ``None``'s count (about 5,000 at start) still names the call
that aborted the interpreter.

It runs in its own process (see tests/app/test_qt_refcount.py) so that a broken
release fails one test instead of aborting the whole suite.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable

CALLS = 600  # six kinds of call: 3,600 in all, below None's count at start


def measure(call: Callable[[], object], times: int = CALLS) -> int:
    """How many references to None ``times`` calls dropped (negative: gained)."""
    call()  # the first call may create caches that hold None
    before = sys.getrefcount(None)
    for _ in range(times):
        call()
    return before - sys.getrefcount(None)


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import PySide6
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPen
    from PySide6.QtWidgets import QApplication, QLabel, QProgressBar

    app = QApplication.instance() or QApplication([sys.argv[0]])
    label, bar, path = QLabel(), QProgressBar(), QPainterPath()
    image = QImage(64, 64, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    pen, point = QPen(QColor("red"), 1.6), QPointF(3.0, 4.0)
    calls: dict[str, Callable[[], object]] = {
        "QLabel.setText": lambda: label.setText("decode 120.0 tok/s"),
        "QWidget.update": label.update,
        "QPainterPath.lineTo": lambda: path.lineTo(point),
        "QProgressBar.setValue": lambda: bar.setValue(3),
        "QPainter.setPen": lambda: painter.setPen(pen),
        "QPainter.drawLine": lambda: painter.drawLine(point, point),
    }
    versions = {"pyside6": PySide6.__version__, "python": sys.version.split()[0]}
    for name, call in calls.items():
        print(json.dumps({"call": name, "drops": measure(call), **versions}), flush=True)
    painter.end()
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())
