"""``hearth --self-test``: prove a build works without a person at the screen.

Opens the window offscreen (unless QT_QPA_PLATFORM says otherwise), loads the default
model, streams a short reply through the real worker thread, prints TTFT and tokens/s,
and exits 0. Anything else (no default model, a load or generation failure, a timeout)
prints a clear message and exits 1. It also checks that the bundled PySide6 keeps its
references to ``None`` (6.12.0 under Python 3.11 does not, and aborts after minutes).
"""

from __future__ import annotations

import os
import sys
import tempfile

TIMEOUT_MS = 120_000
MAX_NEW_TOKENS = 16


def run() -> int:
    # Offscreen by default: a build check must not need a display.
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QObject, QTimer, Slot
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from engine.convert.default_model import default_model_dir, is_installed

    from app.main import app_icon

    # The model comes from the real models folder; settings and conversations go to a
    # throwaway HEARTH_HOME, so a self-test leaves the user's own state untouched.
    model_dir, installed = default_model_dir(), is_installed()
    scratch = tempfile.TemporaryDirectory(prefix="hearth-self-test-", ignore_cleanup_errors=True)
    os.environ["HEARTH_HOME"] = scratch.name

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setWindowIcon(app_icon())
    import PySide6

    print(f"self-test: Qt platform {app.platformName()}, Python {sys.version.split()[0]}, "
          f"PySide6 {PySide6.__version__}, frozen={bool(getattr(sys, 'frozen', False))}", flush=True)
    # Checked before any worker thread exists, so a failure here exits cleanly.
    dropped = none_references_dropped()
    if dropped > 0:
        print(f"self-test FAILED: PySide6 {PySide6.__version__} dropped {dropped} references to None "
              f"in {VOID_CALLS} void Qt calls; this Python aborts when the count reaches zero.", flush=True)
        return 1
    window = MainWindow()
    window.show()
    result = {"code": 1, "text": ""}

    def finish(code: int, message: str) -> None:
        if result.get("done"):
            return
        result["done"] = True
        result["code"] = code
        print(message, flush=True)
        app.quit()

    # The engine's signals come from its worker thread: receive them on a QObject that
    # lives in this (GUI) thread, so the slots run here, where the window's SQLite lives.
    class Probe(QObject):
        @Slot(object)
        def on_loaded(self, loaded: object) -> None:
            report = loaded.report  # type: ignore[attr-defined]
            print(f"self-test: loaded {model_dir.name} on {report.provider} ({report.device}) "
                  f"in {report.load_seconds:.2f} s", flush=True)
            window.send("Say hello.")

        @Slot(int, object)
        def on_token(self, _rid: int, ev: object) -> None:
            result["text"] += ev.text  # type: ignore[attr-defined]

        @Slot(int, object)
        def on_finished(self, _rid: int, ev: object) -> None:
            ok = ev.finish_reason in ("stop", "length") and ev.generated_tokens > 0  # type: ignore[attr-defined]
            ttft = f"{ev.ttft_s * 1000:.0f} ms" if ev.ttft_s is not None else "n/a"  # type: ignore[attr-defined]
            tps = f"{ev.decode_tps:.1f} tok/s" if ev.decode_tps else "n/a"  # type: ignore[attr-defined]
            finish(0 if ok else 1,
                   f"self-test: reply {result['text'].strip()!r}\n"
                   f"self-test: {ev.generated_tokens} tokens, finish={ev.finish_reason}, "  # type: ignore[attr-defined]
                   f"TTFT {ttft}, decode {tps}\n"
                   f"self-test: {'PASSED' if ok else 'FAILED'}")

        @Slot(object)
        def on_failed(self, failure: object) -> None:
            finish(1, f"self-test FAILED ({failure.kind}): {failure.message}")  # type: ignore[attr-defined]

    probe = Probe()

    if not installed:
        QTimer.singleShot(0, lambda: finish(
            1, f"self-test FAILED: the default model is not installed in {model_dir}; "
               "run `hearth-cli models install-default` (or copy its folder there) first."))
    else:
        window.settings.defaults = window.settings.defaults.__class__(context_length=1024,
                                                                      max_new_tokens=MAX_NEW_TOKENS)
        engine = window.bridge.engine
        engine.model_loaded.connect(probe.on_loaded)
        engine.token_generated.connect(probe.on_token)
        engine.generation_finished.connect(probe.on_finished)
        engine.failed.connect(probe.on_failed)
        window.load_model(str(model_dir))
    QTimer.singleShot(TIMEOUT_MS, lambda: finish(1, f"self-test FAILED: no reply within {TIMEOUT_MS // 1000} s"))
    app.exec()
    window.shutdown()
    scratch.cleanup()
    return result["code"]


VOID_CALLS = 500


def none_references_dropped() -> int:
    """References to None lost by ``VOID_CALLS`` Qt calls that return nothing (0 when sound)."""
    from PySide6.QtWidgets import QLabel

    label = QLabel()
    label.setText("warm-up")
    before = sys.getrefcount(None)
    for _ in range(VOID_CALLS):
        label.setText("self-test")
    return before - sys.getrefcount(None)
