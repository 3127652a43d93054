"""The Benchmark window on the real default model: a run fills the chart and the store, the
GUI thread never stalls while it runs, Cancel stops it at once and keeps what finished,
and the main window opens it from its toolbar."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

from app.bench_history import BenchHistory
from app.bench_runner import BenchConfig, BenchPlan
from app.bench_window import BenchmarkWindow
from app.store import Store
from engine.report.bench_chart import LIGHT
from tests.helpers.heartbeat import Heartbeat
from tests.helpers.png_check import read_png

pytestmark = pytest.mark.slow


@pytest.fixture
def bench(qtbot, tmp_path, real_model_dir):
    store = Store(tmp_path / "conversations.sqlite3")
    window = BenchmarkWindow(BenchHistory(store.db), lambda: [(str(real_model_dir), "SmolLM2 · int4")])
    qtbot.addWidget(window)
    window.show()
    yield window, store
    window.shutdown()
    store.close()


def _plan(folder: Path, count: int) -> BenchPlan:
    # One thread: the other core stays with the GUI thread (and the heartbeat).
    return BenchPlan(tuple(BenchConfig(str(folder), "cpu", 1) for _ in range(count)), rounds=1, new_tokens=8,
                     context=1024)


def _bars(svg: str) -> Counter:
    return Counter(r.get("fill") for r in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}rect"))


def test_a_run_fills_the_chart_without_stalling_the_window_and_survives_a_reopen(qtbot, bench, real_model_dir,
                                                                                    tmp_path):
    window, store = bench
    assert window.setup.checked_models() == [str(real_model_dir)]  # the first build is ticked
    heartbeat = Heartbeat()
    heartbeat.start()
    with qtbot.waitSignal(window.run_ended, timeout=300_000) as ended:
        assert window.run(_plan(real_model_dir, 1))
        assert not window.run(_plan(real_model_dir, 1))  # one run at a time
    heartbeat.stop()
    assert ended.args == ["finished"]
    assert [r.case for r in window.rows] == ["short", "long", "chat"]
    assert all(r.ttft_ms and r.decode_tps and r.prefill_tps for r in window.rows)
    assert window.rows[2].cached_tokens > 0 and window.rows[0].peak_rss_mb > 50
    bars = _bars(window.chart.svg)
    for case in ("short", "long", "chat"):
        assert bars[LIGHT.cases[case]] == 3 + 1  # ttft, prefill and decode bars, + the legend
    assert bars[LIGHT.memory] == 1 + 1
    gaps = heartbeat.gaps
    assert len(gaps) > 10
    assert max(gaps) < 0.100, f"GUI thread stalled for {max(gaps) * 1000:.0f} ms"
    # Exports, and the history after closing and reopening the database.
    assert read_png(window.export(tmp_path / "b.png", "png").read_bytes())[0] > 0
    assert window.export(tmp_path / "b.csv", "csv").read_text().count("\n") == 4
    assert '"decode_tps"' in window.export(tmp_path / "b.json", "json").read_text()
    rows = list(window.rows)
    store.close()
    reopened = Store(store.path)
    history = BenchHistory(reopened.db)
    assert [(r.status, r.results) for r in history.runs()] == [("finished", 3)]
    assert history.results(history.runs()[0].id) == rows
    reopened.close()


def test_cancel_mid_run_stops_promptly_and_keeps_finished_configurations(qtbot, bench, real_model_dir):
    window, store = bench
    finished = []
    window.runner.worker.config_finished.connect(lambda _c, rows: finished.append(rows))
    assert window.run(_plan(real_model_dir, 3))
    qtbot.waitUntil(lambda: len(finished) == 1, timeout=300_000)
    qtbot.wait(1500)  # the second configuration's child is loading or measuring now
    assert window.runner.worker._proc is not None
    started = time.perf_counter()
    with qtbot.waitSignal(window.run_ended, timeout=10_000) as ended:
        window.cancel()
    took = time.perf_counter() - started
    assert ended.args == ["cancelled"] and took < 3.0, f"cancel took {took:.1f} s"
    assert len(window.rows) == 3 and len(finished) == 1  # the first configuration is kept, nothing after it
    runs = BenchHistory(store.db).runs()
    assert [(r.status, r.results) for r in runs] == [("cancelled", 3)]
    assert window.runner.worker._proc is None and window.run_button.isEnabled()
    assert window.history_runs and window.run_list.count() == 1


def test_the_main_window_opens_the_benchmark_from_its_toolbar(qtbot, real_window, real_model_dir):
    w = real_window
    w.benchmark.action.trigger()
    bench_window = w.benchmark.window
    assert bench_window is not None and bench_window.isVisible()
    assert str(real_model_dir) in bench_window.setup.checked_models()
    assert len(bench_window.setup.plan().configs) == 1
