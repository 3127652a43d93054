"""The progress dialog of a long model job (install, convert); Cancel cancels the job."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QProgressDialog, QWidget


class JobProgressDialog(QProgressDialog):
    def __init__(self, title: str, text: str, on_cancel: Callable[[], None], parent: QWidget | None = None) -> None:
        super().__init__(text, "Cancel", 0, 100, parent)
        self.setWindowTitle(title)
        self.setMinimumDuration(0)
        self.setAutoClose(False)
        self.setAutoReset(False)
        self.setValue(0)
        self.canceled.connect(on_cancel)

    def show_progress(self, text: str, fraction: float | None) -> None:
        self.setLabelText(text)
        if fraction is not None:
            self.setValue(int(fraction * 100))
