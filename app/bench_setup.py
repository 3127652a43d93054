"""The benchmark's setup form: which model builds, providers, thread counts, rounds and tokens.

A precision is a model build: every installed folder is listed with its precision, so
"int4 against fp32" means ticking both builds. The plan is every ticked build x
provider x thread count; a provider the machine lacks falls back to CPU, and the results
name the provider that actually ran.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.bench_runner import BenchConfig, BenchPlan

PROVIDER_NAMES = {"cpu": "CPU", "cuda": "CUDA", "dml": "DirectML", "coreml": "CoreML"}


def thread_choices(cores: int | None = None) -> list[int]:
    """1, 2, 4, ... up to the core count, and the core count itself."""
    cores = max(cores or os.cpu_count() or 1, 1)
    found, n = [], 1
    while n < cores:
        found.append(n)
        n *= 2
    return found + [cores]


class BenchSetup(QWidget):
    changed = Signal()

    def __init__(self, models: Callable[[], list[tuple[str, str]]], parent: QWidget | None = None) -> None:
        """``models`` lists the installed builds as (folder, label) pairs, asked on each refresh."""
        super().__init__(parent)
        self._models = models
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Model builds"))
        self.model_list = QListWidget()
        self.model_list.setMaximumHeight(140)
        self.model_list.itemChanged.connect(lambda _i: self.changed.emit())
        layout.addWidget(self.model_list)
        self.providers = self._boxes(layout, "Execution providers", {k: v for k, v in PROVIDER_NAMES.items()},
                                     checked={"cpu"})
        cores = thread_choices()
        self.threads = self._boxes(layout, "Threads", {str(n): str(n) for n in cores},
                                   checked={str(2 if 2 in cores else cores[-1])})
        form = QFormLayout()
        self.rounds = QSpinBox(minimum=1, maximum=20, value=3)
        self.rounds.setToolTip("Each case runs this many times; the charts show the medians")
        self.new_tokens = QSpinBox(minimum=8, maximum=1024, value=128, singleStep=32)
        self.new_tokens.setToolTip("Greedy, end of text ignored: every run generates exactly this many tokens")
        form.addRow("Rounds", self.rounds)
        form.addRow("New tokens", self.new_tokens)
        layout.addLayout(form)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        self.changed.connect(self._on_self_changed)
        self.refresh()

    def _boxes(self, layout: QVBoxLayout, title: str, names: dict[str, str], checked: set[str]) -> dict[str, QCheckBox]:
        layout.addWidget(QLabel(title))
        row = QHBoxLayout()
        boxes = {}
        for key, text in names.items():
            box = QCheckBox(text)
            box.setChecked(key in checked)
            box.toggled.connect(lambda _on: self.changed.emit())
            row.addWidget(box)
            boxes[key] = box
        row.addStretch(1)
        layout.addLayout(row)
        return boxes

    def refresh(self, select: str = "") -> None:
        """List the installed builds again, keeping the ticks (or ticking ``select`` on a first fill)."""
        ticked = set(self.checked_models())
        self.model_list.blockSignals(True)
        self.model_list.clear()
        for folder, label in self._models():
            item = QListWidgetItem(label)
            item.setData(Qt.ItemDataRole.UserRole, folder)
            item.setToolTip(folder)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            on = folder in ticked if ticked else (folder == select or not select and self.model_list.count() == 0)
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
            self.model_list.addItem(item)
        self.model_list.blockSignals(False)
        self._on_self_changed()

    def checked_models(self) -> list[str]:
        items = (self.model_list.item(i) for i in range(self.model_list.count()))
        return [str(i.data(Qt.ItemDataRole.UserRole)) for i in items if i.checkState() == Qt.CheckState.Checked]

    def plan(self) -> BenchPlan:
        providers = [k for k, box in self.providers.items() if box.isChecked()]
        threads = [int(k) for k, box in self.threads.items() if box.isChecked()]
        configs = tuple(BenchConfig(folder, provider, n) for folder in self.checked_models()
                        for provider in providers for n in threads)
        return BenchPlan(configs, rounds=self.rounds.value(), new_tokens=self.new_tokens.value())

    def _on_self_changed(self) -> None:
        count = len(self.plan().configs)
        self.summary.setText("Tick at least one build, provider and thread count." if not count else
                             f"{count} configuration{'s' * (count != 1)}, each in a process of its own: short "
                             "prompt, long prompt and a chat turn that reuses the cache.")
