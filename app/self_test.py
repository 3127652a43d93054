"""``hearth --self-test``: prove a build works without a person at the screen.

Opens the window offscreen-capable, loads the default model (if installed), asks for a
few tokens through the real worker thread, and exits 0 when they arrive.
"""

from __future__ import annotations

import sys

TIMEOUT_MS = 120_000


def run() -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from engine.default_model import default_model_dir, is_installed

    app = QApplication.instance() or QApplication([sys.argv[0]])
    window = MainWindow()
    window.show()
    result = {"code": 1, "text": ""}

    def finish(code: int, message: str) -> None:
        result["code"] = code
        print(message, flush=True)
        app.quit()

    if not is_installed():
        QTimer.singleShot(0, lambda: finish(0, "self-test: window opened; default model not installed, skipped generation"))
    else:
        window.settings.defaults = window.settings.defaults.__class__(context_length=1024, max_new_tokens=8)
        window.bridge.engine.model_loaded.connect(lambda _m: window.send("Say hello."))
        window.bridge.engine.generation_finished.connect(
            lambda _rid, ev: finish(0 if ev.finish_reason in ("stop", "length") else 1,
                                    f"self-test: {ev.generated_tokens} tokens, finish={ev.finish_reason}"))
        window.bridge.engine.failed.connect(lambda f: finish(1, f"self-test failed: {f.message}"))
        window.load_model(str(default_model_dir()))
    QTimer.singleShot(TIMEOUT_MS, lambda: finish(1, "self-test: timed out"))
    app.exec()
    window.shutdown()
    return result["code"]
