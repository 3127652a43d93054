"""The Benchmark window: run the bench workload on this machine, see the bars, keep a history.

A window of its own, not a tab of the main window: the main window has no tabs (a
splitter of chats, chat and settings), a run takes minutes, and the user can keep it
open beside the chat. The runs happen in child processes (app/bench_runner.py), so the
window never waits on them; results are stored as each configuration finishes
(app/bench_history.py) and drawn by the engine's chart writer (engine/report), the one
``hearth-cli bench --chart`` uses.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.bench_chart_view import ChartView
from app.bench_history import BenchHistory, BenchRun
from app.bench_runner import BenchConfig, BenchPlan, BenchProgress, BenchRunner
from app.bench_setup import BenchSetup
from engine.report import png, svg
from engine.report.bench_chart import METRICS, bench_scene, history_scene, subtitle_of
from engine.report.results import BenchRow, to_csv, to_json
from engine.report.scene import Scene

log = logging.getLogger(__name__)


class BenchmarkWindow(QWidget):
    run_ended = Signal(str)  # "finished", "cancelled" or "failed"

    def __init__(self, history: BenchHistory, models: Callable[[], list[tuple[str, str]]],
                 dark: Callable[[], bool] = lambda: False, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle("Hearth – Benchmark")
        self.history = history
        self._dark = dark
        self.runner = BenchRunner(self)
        self.rows: list[BenchRow] = []  # the run on the Results tab
        self.shown_run: int | None = None
        self._run_id: int | None = None
        self._started = 0.0
        self._build(models)
        worker = self.runner.worker
        worker.progressed.connect(self._on_worker_progressed)
        worker.config_finished.connect(self._on_worker_config_finished)
        worker.config_failed.connect(self._on_worker_config_failed)
        worker.run_finished.connect(self._on_worker_run_finished)
        self.resize(1200, 760)
        self._set_running(False)
        self.refresh_history()
        runs = self.history_runs
        if runs:
            self.show_run(runs[-1].id)
        else:
            self._draw()

    @property
    def running(self) -> bool:
        return self._run_id is not None

    # -- layout -----------------------------------------------------------------------
    def _build(self, models: Callable[[], list[tuple[str, str]]]) -> None:
        self.setup = BenchSetup(models)
        self.setup.changed.connect(lambda: self._set_running(self.running))
        self.run_button = QPushButton("Run benchmark")
        self.run_button.clicked.connect(lambda: self.run())
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.status = QLabel("Other programs (and a reply being written) slow the figures down.")
        self.status.setWordWrap(True)
        left = QWidget()
        column = QVBoxLayout(left)
        column.addWidget(self.setup)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        column.addLayout(buttons)
        column.addWidget(self.progress)
        column.addWidget(self.status)
        column.addStretch(1)
        self.chart = ChartView()
        results = QWidget()
        results_layout = QVBoxLayout(results)
        results_layout.addWidget(self.chart, 1)
        exports = QHBoxLayout()
        exports.addStretch(1)
        self.export_buttons = {}
        for kind in ("png", "svg", "csv", "json"):
            button = QPushButton(f"Export {kind.upper()}…")
            button.clicked.connect(lambda _c=False, k=kind: self._on_export_clicked(k))
            exports.addWidget(button)
            self.export_buttons[kind] = button
        results_layout.addLayout(exports)
        self.run_list = QListWidget()
        self.run_list.setMaximumWidth(250)  # the chart gets the rest
        self.run_list.currentItemChanged.connect(self._on_run_list_current_changed)
        self.figure_box = QComboBox()
        for m in METRICS:
            self.figure_box.addItem(f"{m.title} ({m.unit})", m.key)
        self.figure_box.setCurrentIndex(2)  # decode tok/s
        self.figure_box.currentIndexChanged.connect(lambda _i: self._draw_history())
        self.delete_button = QPushButton("Delete run")
        self.delete_button.clicked.connect(self._on_delete_clicked)
        self.history_chart = ChartView()
        history = QWidget()
        history_layout = QHBoxLayout(history)
        side = QVBoxLayout()
        side.addWidget(QLabel("Earlier runs (click to show)"))
        side.addWidget(self.run_list, 1)
        side.addWidget(self.delete_button)
        side.addWidget(QLabel("Figure"))
        side.addWidget(self.figure_box)
        history_layout.addLayout(side)
        history_layout.addWidget(self.history_chart, 1)
        self.tabs = QTabWidget()
        self.tabs.addTab(results, "Results")
        self.tabs.addTab(history, "History")
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([320, 880])
        outer = QVBoxLayout(self)
        outer.addWidget(splitter)

    def _set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running and bool(self.setup.plan().configs))
        self.cancel_button.setEnabled(running)
        self.setup.setEnabled(not running)

    # -- running ----------------------------------------------------------------------
    def run(self, plan: BenchPlan | None = None) -> bool:
        """Start ``plan`` (default: the setup form's); False if one runs already or the plan is empty."""
        plan = plan or self.setup.plan()
        if self.running or not plan.configs:
            return False
        try:
            self._run_id = self.history.start_run()
        except sqlite3.Error as exc:
            self.status.setText(f"Could not store the results, so the run did not start: {exc}")
            return False
        self._started = time.time()
        self.rows, self.shown_run = [], self._run_id
        self.progress.setValue(0)
        self.status.setText(f"Starting {len(plan.configs)} configuration{'s' * (len(plan.configs) != 1)}…")
        self._set_running(True)
        self._draw()
        self.tabs.setCurrentIndex(0)
        self.runner.start(plan)
        return True

    def cancel(self) -> None:
        if self.running:
            self.status.setText("Cancelling…")
            self.runner.cancel()

    def _on_worker_progressed(self, progress: BenchProgress) -> None:
        self.progress.setValue(round(progress.fraction * 1000))
        self.status.setText(progress.text)

    def _on_worker_config_finished(self, config: BenchConfig, rows: list[BenchRow]) -> None:
        if self._run_id is None:
            return
        try:
            self.history.add_results(self._run_id, rows, config.folder)
        except sqlite3.Error as exc:
            self.status.setText(f"Could not store these results: {exc}")
        self.rows.extend(rows)
        self._draw()

    def _on_worker_config_failed(self, config: BenchConfig, message: str) -> None:
        last = (message.splitlines() or [""])[-1]
        self.status.setText(f"{Path(config.folder).name} on {config.provider} failed: {last}")

    def _on_worker_run_finished(self, status: str) -> None:
        run_id, self._run_id = self._run_id, None
        if run_id is not None:
            try:
                self.history.end_run(run_id, status)
            except sqlite3.Error as exc:
                log.warning("could not mark the benchmark run %s: %s", status, exc)
        if status == "failed":  # the last failure's message stays above
            self.status.setText(f"Every configuration failed. {self.status.text()}")
        else:
            self.status.setText("Finished." if status == "finished" else
                                "Cancelled: the configurations that finished are kept.")
        if status == "finished":
            self.progress.setValue(1000)
        self._set_running(False)
        self.refresh_history()
        self.run_ended.emit(status)

    # -- charts -----------------------------------------------------------------------
    def scene(self) -> Scene:
        """The shown run's chart, as the engine draws it for the CLI too."""
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self._started)) if self._started else ""
        return bench_scene(self.rows, "Hearth benchmark", subtitle_of(self.rows, when), dark=self._dark())

    def _draw(self) -> None:
        self.chart.show_svg(svg.to_svg(self.scene()))
        for button in self.export_buttons.values():
            button.setEnabled(bool(self.rows))

    def refresh_history(self) -> None:
        try:
            self.history_runs: list[BenchRun] = self.history.runs()
        except sqlite3.Error as exc:
            log.warning("could not read the benchmark history: %s", exc)
            self.history_runs = []
        self.run_list.blockSignals(True)
        self.run_list.clear()
        for run in reversed(self.history_runs):
            item = QListWidgetItem(f"{run.when()}  ·  {run.results // 3 or 1} config.  ·  {run.status}")
            item.setData(Qt.ItemDataRole.UserRole, run.id)
            self.run_list.addItem(item)
        self.run_list.blockSignals(False)
        self.delete_button.setEnabled(bool(self.history_runs))
        self._draw_history()

    def _draw_history(self) -> None:
        runs = [(run.when(), self.history.results(run.id)) for run in self.history_runs[-12:]]
        scene = history_scene(runs, self.figure_box.currentData() or "decode_tps", dark=self._dark())
        self.history_chart.show_svg(svg.to_svg(scene))

    def show_run(self, run_id: int) -> None:
        """Show an earlier run on the Results tab."""
        if self.running:
            return
        run = next((r for r in self.history_runs if r.id == run_id), None)
        if run is not None:
            self.rows, self.shown_run, self._started = self.history.results(run_id), run_id, run.created
            self._draw()

    def _on_run_list_current_changed(self, item: QListWidgetItem | None, _previous: object) -> None:
        if item is not None:
            self.show_run(int(item.data(Qt.ItemDataRole.UserRole)))

    def _on_delete_clicked(self) -> None:
        item = self.run_list.currentItem()
        if item is None or self.running:
            return
        self.history.delete_run(int(item.data(Qt.ItemDataRole.UserRole)))
        self.refresh_history()

    # -- export -----------------------------------------------------------------------
    def export(self, path: str | Path, kind: str) -> Path:
        """Write the shown run to ``path`` as png, svg, csv or json."""
        path = Path(path)
        if kind == "png":
            path.write_bytes(png.to_png(self.scene()))
        elif kind == "svg":
            path.write_text(svg.to_svg(self.scene()), encoding="utf-8")
        elif kind == "csv":
            path.write_text(to_csv(self.rows), encoding="utf-8")
        else:
            path.write_text(to_json(self.rows, created=self._started), encoding="utf-8")
        return path

    def _on_export_clicked(self, kind: str) -> None:
        name = f"hearth-benchmark-{time.strftime('%Y%m%d-%H%M', time.localtime(self._started))}.{kind}"
        path, _ = QFileDialog.getSaveFileName(self, f"Export the benchmark as {kind.upper()}", name)
        if path:
            try:
                self.export(path, kind)
            except OSError as exc:
                self.status.setText(f"Could not export: {exc}")

    def shutdown(self) -> None:
        self.runner.shutdown()
