"""Soak the real window: stream replies from the real model for a while, then quit mid-reply.

    python tests/e2e/soak.py MODEL_DIR --seconds 600

The window opens offscreen (unless QT_QPA_PLATFORM says otherwise) with a scratch
HEARTH_HOME, loads MODEL_DIR and sends one question after another, starting a new
chat every few replies, while the metrics bar and its sparkline repaint. When the time
is up it closes the window while a reply is still streaming, which is the quit a user
makes. It prints one JSON line with what it saw and exits 0 only if:

- the sparkline's ``paintEvent`` ran,
- ``sys.getrefcount(None)`` never fell more than ``NONE_SLACK`` below its value after
  the first reply (a PySide6 that leaks ``None`` loses hundreds a second here),
- replies finished, and the quit went through ``app.exec()`` and ``shutdown()``.

An abort (the interpreter deallocating ``None``, a thread destroyed while running)
ends the process with a signal instead, which the caller sees as a non-zero code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

QUESTIONS = (
    "Why is the sky blue?",
    "Give me three tips for a good night's sleep.",
    "Write a short poem about a hearth.",
    "What is the capital of France, and why is it famous?",
)
REPLIES_PER_CHAT = 4
NONE_SLACK = 200  # ordinary churn moves None's count by tens; the 6.12.0 leak by ~600/s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="model folder to load")
    parser.add_argument("--seconds", type=float, default=600.0, help="how long to stream (default 600)")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    home = tempfile.TemporaryDirectory(prefix="hearth-soak-", ignore_cleanup_errors=True)
    os.environ["HEARTH_HOME"] = home.name

    from PySide6.QtCore import QObject, QTimer, Slot
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.metrics_bar import Sparkline

    paints = {"count": 0}
    original_paint = Sparkline.paintEvent

    def counting_paint(self: Sparkline, event: object) -> None:
        paints["count"] += 1
        original_paint(self, event)

    Sparkline.paintEvent = counting_paint  # type: ignore[method-assign]

    app = QApplication.instance() or QApplication([sys.argv[0]])
    window = MainWindow()
    window.settings.defaults = window.settings.defaults.__class__(context_length=2048, max_new_tokens=256)
    window.resize(1100, 700)
    window.show()
    seen = {"replies": 0, "errors": [], "none_start": None, "none_min": None, "quit_mid_reply": False}
    deadline = time.monotonic() + args.seconds

    def sample_none() -> None:
        count = sys.getrefcount(None)
        if seen["none_start"] is not None:
            seen["none_min"] = min(seen["none_min"], count)

    class Driver(QObject):
        @Slot(object)
        def on_loaded(self, _loaded: object) -> None:
            self.ask()

        def ask(self) -> None:
            if seen["replies"] % REPLIES_PER_CHAT == 0:
                window.chats.new_chat()  # a fresh chat keeps prompts short
            window.send(QUESTIONS[seen["replies"] % len(QUESTIONS)])

        @Slot(int, object)
        def on_token(self, _rid: int, _event: object) -> None:
            if time.monotonic() > deadline and not seen["quit_mid_reply"]:
                seen["quit_mid_reply"] = True
                window.close()  # quit while the reply streams
                app.quit()

        @Slot(int, object)
        def on_finished(self, _rid: int, event: object) -> None:
            seen["replies"] += 1
            if seen["none_start"] is None:  # steady state: model, caches and widgets exist
                seen["none_start"] = seen["none_min"] = sys.getrefcount(None)
            if getattr(event, "finish_reason", "") == "error":
                seen["errors"].append(getattr(event, "error", ""))
            if not seen["quit_mid_reply"]:
                QTimer.singleShot(0, self.ask)

        @Slot(object)
        def on_failed(self, failure: object) -> None:
            seen["errors"].append(getattr(failure, "message", str(failure)))

    driver = Driver()
    engine = window.bridge.engine
    engine.model_loaded.connect(driver.on_loaded)
    engine.token_generated.connect(driver.on_token)
    engine.generation_finished.connect(driver.on_finished)
    engine.failed.connect(driver.on_failed)
    sampler = QTimer()
    sampler.timeout.connect(sample_none)
    sampler.start(250)
    # A hard stop, should no token ever arrive after the deadline.
    QTimer.singleShot(int(args.seconds * 1000) + 120_000, app.quit)
    window.load_model(args.model)
    app.exec()
    sampler.stop()
    window.shutdown()
    seen["paint_events"] = paints["count"]
    seen["metrics_repaints"] = window.metrics.repaints
    start, low = seen["none_start"], seen["none_min"]
    seen["none_fall"] = (start - low) if start is not None else None
    ok = (paints["count"] > 0 and seen["replies"] > 0 and not seen["errors"]
          and seen["quit_mid_reply"] and start is not None and start - low <= NONE_SLACK)
    seen["ok"] = ok
    print(json.dumps(seen), flush=True)
    home.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
