"""The main window's way into the Benchmark window: a toolbar button and a Tools menu entry.

The window is built on first use and kept (closing it only hides it, and a run goes on);
``shutdown`` stops a run when Hearth quits.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMainWindow, QToolBar

from app.bench_history import BenchHistory
from app.bench_window import BenchmarkWindow


class BenchLauncher(QObject):
    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self._main = window
        self.window: BenchmarkWindow | None = None
        self.action = QAction("Benchmark", window)
        self.action.setToolTip("Measure TTFT, prefill and decode speed and memory on this machine")
        self.action.triggered.connect(self.open)
        toolbar = window.findChild(QToolBar, "MainToolbar")
        if toolbar is not None:
            toolbar.addAction(self.action)
        window.menuBar().addMenu("&Tools").addAction(self.action)

    def models(self) -> list[tuple[str, str]]:
        """The installed (local) builds in the model picker, as (folder, "name · precision")."""
        picker = self._main.picker  # type: ignore[attr-defined]
        found = []
        for folder in picker.folders():
            if Path(folder).is_dir():
                info = picker.infos.get(folder)
                found.append((folder, f"{info.name} · {info.precision}" if info else Path(folder).name))
        return found

    def open(self) -> BenchmarkWindow:
        if self.window is None:
            main = self._main
            self.window = BenchmarkWindow(BenchHistory(main.store.db), self.models,  # type: ignore[attr-defined]
                                          lambda: bool(getattr(main, "dark", False)), main)
        self.window.setup.refresh(select=self._main.picker.current())  # type: ignore[attr-defined]
        self.window.show()
        self.window.raise_()
        self.window.activateWindow()
        return self.window

    def shutdown(self) -> None:
        if self.window is not None:
            self.window.shutdown()
