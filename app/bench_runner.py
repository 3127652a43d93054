"""Runs a benchmark plan off the GUI thread: one ``hearth-cli bench`` child per configuration.

Why a child process per configuration, not the engine worker: each configuration needs
its own session (provider, threads, precision), the chat's loaded model stays as it is,
peak memory is only meaningful per process (BENCHMARKS.md: "one process per
configuration"), and Cancel is a terminate that returns at once. The worker thread only
waits on the child and reads its "[ NN%] case" progress lines; the results come back
through the child's ``--json`` file, so the figures are exactly what ``hearth-cli bench``
prints.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal, Slot

import engine
from engine.convert import child_process
from engine.core import paths
from engine.report.results import BenchRow, rows_of

log = logging.getLogger(__name__)

# The child runs the engine this process runs (a checkout or the installed package),
# found from the engine package itself: ``-I`` keeps the working directory and
# PYTHONPATH off its sys.path, and an editable install could point elsewhere.
_BOOT = "import sys; sys.path.insert(0, sys.argv.pop(1)); from engine.cli import main; sys.exit(main())"


@dataclass(frozen=True)
class BenchConfig:
    folder: str
    provider: str  # "cpu", "cuda", "dml", "coreml" or "auto"
    threads: int | None


@dataclass(frozen=True)
class BenchPlan:
    configs: tuple[BenchConfig, ...]
    rounds: int = 1
    new_tokens: int = 128
    context: int = 2048


@dataclass(frozen=True)
class BenchProgress:
    fraction: float  # of the whole plan
    text: str


def cli_command(*args: str) -> list[str]:
    """The argv of ``hearth-cli args`` as a child of this process, source or bundle."""
    if getattr(sys, "frozen", False):  # the bundle's executable runs the CLI (packaging/hearth_main.py)
        return [sys.executable, "--engine-cli", *args]
    root = str(Path(engine.__file__).resolve().parent.parent)
    return [sys.executable, "-I", "-u", "-c", _BOOT, root, *args]


class BenchWorker(QObject):
    """Lives on its own thread; ``run`` works through a plan, ``cancel`` is a direct call."""

    progressed = Signal(object)  # BenchProgress
    config_finished = Signal(object, object)  # BenchConfig, list[BenchRow]
    config_failed = Signal(object, str)  # BenchConfig, message
    run_finished = Signal(str)  # "finished", "cancelled" or "failed"

    def __init__(self) -> None:
        super().__init__()
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None  # type: ignore[type-arg]

    def cancel(self) -> None:
        """Thread-safe: stop the running child now and skip the rest of the plan."""
        self._cancel.set()
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                self._proc.terminate()

    @Slot(object)
    def run(self, plan: BenchPlan) -> None:
        self._cancel.clear()
        failures = 0
        for index, config in enumerate(plan.configs):
            if self._cancel.is_set():
                break
            try:
                rows = self._run_one(plan, config, index)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a message
                log.warning("benchmark configuration failed: %s", exc)
                failures += 1
                if not self._cancel.is_set():
                    self.config_failed.emit(config, str(exc))
                continue
            self.config_finished.emit(config, rows)
        status = "cancelled" if self._cancel.is_set() else "failed" if failures == len(plan.configs) else "finished"
        self.run_finished.emit(status)

    def _run_one(self, plan: BenchPlan, config: BenchConfig, index: int) -> list[BenchRow]:
        workdir = paths.cache_dir()
        workdir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            out = Path(tmp) / "result.json"
            args = ["bench", "--model", config.folder, "--provider", config.provider, "--rounds", str(plan.rounds),
                    "--new-tokens", str(plan.new_tokens), "--context", str(plan.context), "--json", str(out),
                    "--progress"]
            if config.threads:
                args += ["--threads", str(config.threads)]
            with self._lock:
                if self._cancel.is_set():
                    raise RuntimeError("cancelled")
                self._proc = child_process.popen(cli_command(*args), cwd=tmp, stdout=subprocess.DEVNULL,
                                                 stderr=subprocess.PIPE, text=True, bufsize=1)
            tail = self._follow(self._proc, index, len(plan.configs))
            code = self._proc.wait()
            with self._lock:
                self._proc = None
            if self._cancel.is_set():
                raise RuntimeError("cancelled")
            if code != 0 or not out.is_file():
                raise RuntimeError("\n".join(tail) or f"the benchmark stopped (exit code {code})")
            result = json.loads(out.read_text(encoding="utf-8"))
        return rows_of(result, threads=config.threads, rounds=plan.rounds, new_tokens=plan.new_tokens)

    def _follow(self, proc: subprocess.Popen, index: int, count: int) -> list[str]:  # type: ignore[type-arg]
        """Turn the child's progress lines into signals; returns its last lines for an error message."""
        tail: list[str] = []
        assert proc.stderr is not None
        for line in proc.stderr:
            line = line.rstrip()
            if not line:
                continue
            tail = (tail + [line])[-4:]
            if line.startswith("[") and "%]" in line:
                done = float(line[1 : line.index("%]")].strip() or 0) / 100
                what = line[line.index("%]") + 2 :].strip()
                self.progressed.emit(BenchProgress((index + done) / count, f"{index + 1}/{count}: {what}"))
        return tail


class BenchRunner(QObject):
    """Owns the worker's thread; ``start`` queues a plan, ``cancel`` stops it, ``shutdown`` ends the thread."""

    run_requested = Signal(object)  # BenchPlan, queued to the worker

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.worker = BenchWorker()
        self._thread = QThread()
        self._thread.setObjectName("hearth-bench")
        self.worker.moveToThread(self._thread)
        self.run_requested.connect(self.worker.run)
        self._thread.start()

    def start(self, plan: BenchPlan) -> None:
        self.run_requested.emit(plan)

    def cancel(self) -> None:
        self.worker.cancel()

    def shutdown(self, wait_ms: int = 3_000) -> None:
        self.worker.cancel()
        self._thread.quit()
        if not self._thread.wait(wait_ms):
            log.warning("the benchmark thread did not stop in time")
