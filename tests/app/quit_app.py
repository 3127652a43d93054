"""Test-only entry: the app's window and run loop on a fake engine whose work outlasts the quit.

``python -m tests.app.quit_app load|extract``: starts a load (which, like onnxruntime
building a session, cannot be interrupted) or a document extraction (which checks its
cancel event, like the real one), then closes the window half a second later and prints
``QUIT <monotonic time>`` just before, so the test can time the exit.
"""

from __future__ import annotations

import sys
import time

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from tests.app.fakes import ScriptedBackend

WORK_SECONDS = 30.0


class StuckLoadBackend(ScriptedBackend):
    def load(self, folder, options):
        end = time.monotonic() + WORK_SECONDS
        while time.monotonic() < end:  # ignores every cancel
            time.sleep(0.05)
        return super().load(folder, options)


def slow_extract(path, progress=None, cancel=None):
    from engine.documents import ExtractionCancelled

    end = time.monotonic() + WORK_SECONDS
    while time.monotonic() < end:
        if cancel is not None and cancel.is_set():
            raise ExtractionCancelled(path)
        time.sleep(0.05)
    raise AssertionError("the extraction was never cancelled")


def main(kind: str) -> int:
    import engine.documents
    from app.main_window import MainWindow
    from app.shutdown import run_until_quit

    engine.documents.extract = slow_extract
    app = QApplication([sys.argv[0]])
    window = MainWindow(StuckLoadBackend())
    window.show()

    def start() -> None:
        if kind == "load":
            window.load_model("/fake/model")
        else:
            window.attach_files(["/fake/big.pdf"])
        QTimer.singleShot(500, close)

    def close() -> None:
        print(f"QUIT {time.monotonic()}", flush=True)
        window.close()

    QTimer.singleShot(200, start)
    return run_until_quit(app, window)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
