"""Running the window until quit, then ending the process, even with a worker stuck.

A model load runs inside onnxruntime and cannot be interrupted; a load of a big model
can take longer than anyone will wait after pressing Quit. So quitting cancels what it
can, waits a moment (``Bridge.shutdown``), saves the conversation, settings and store,
and if a worker thread is still busy it ends the process with ``os._exit``: Python's
normal exit would destroy the running ``QThread`` and Qt would abort (SIGABRT). Every
file Hearth writes is already saved and closed by then; the thread dies with the process.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import NoReturn

from PySide6.QtWidgets import QApplication

from app.main_window import MainWindow


def run_until_quit(app: QApplication, window: MainWindow) -> int:
    """Run the event loop; when it ends, stop the workers and save. Returns the exit code."""
    code = app.exec()
    window.shutdown()  # saves everything; waits at most a second for the workers
    if not window.bridge.stopped:
        end_process(code)
    return code


def end_process(code: int) -> NoReturn:
    """Flush the logs and standard streams, then exit at once, leaving busy threads behind."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken stream has nothing left to lose
            pass
    os._exit(code)
