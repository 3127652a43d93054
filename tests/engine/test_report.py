"""engine/report: the benchmark's chart as SVG and PNG (the bars it must hold), its CSV and
JSON, and ``hearth-cli bench --chart`` on the real default model."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

from engine.report import write_chart
from engine.report.bench_chart import LABEL_W, LIGHT, MARGIN, WIDTH, bench_scene, history_scene
from engine.report.png import to_png
from engine.report.results import BenchRow, from_dict, rows_of, to_csv, to_json
from engine.report.svg import to_svg
from tests.helpers.png_check import read_png, runs_in_column

ROOT = Path(__file__).resolve().parents[2]
SVG = "{http://www.w3.org/2000/svg}"


def _result(threads: int, decode: float) -> dict:
    case = {"prompt_tokens": 44, "ttft_ms": 40.0, "decode_tps": decode, "prefill_tps": 900.0, "cached_tokens": 0}
    return {"model": "SmolLM2", "precision": "int4", "provider": "cpu", "short": case,
            "long": {**case, "prompt_tokens": 498, "ttft_ms": 700.0}, "chat": {**case, "cached_tokens": 171},
            "peak_rss_mb": 290.0, "threads": threads, "rounds": 1, "new_tokens": 128}


ROWS = rows_of(_result(1, 60.0)) + rows_of(_result(2, 100.0))


def _fills(svg: str) -> Counter:
    return Counter(r.get("fill") for r in ET.fromstring(svg).iter(f"{SVG}rect"))


def test_the_svg_has_one_bar_per_configuration_case_and_figure():
    fills = _fills(to_svg(bench_scene(ROWS, "Hearth benchmark")))
    for case in ("short", "long", "chat"):
        assert fills[LIGHT.cases[case]] == 3 * 2 + 1  # ttft, prefill, decode for 2 configurations, + the legend
    assert fills[LIGHT.memory] == 2 + 1  # one memory bar per configuration (process), + the legend


def test_the_png_is_valid_and_holds_the_same_bars():
    scale = 2
    width, height, rows = read_png(to_png(bench_scene(ROWS, "Hearth benchmark"), scale=scale))
    assert width == WIDTH * scale and height > 300
    left = (MARGIN + LABEL_W + 2) * scale  # just inside the bars' start, left column of panels
    right = left + (WIDTH - 3 * MARGIN) // 2 * scale + MARGIN * scale
    below_legend = 80 * scale
    for case in ("short", "long", "chat"):
        colour = bytes.fromhex(LIGHT.cases[case][1:])
        assert runs_in_column(rows, left, colour, below_legend) == 2 * 2  # ttft and decode, 2 configurations
        assert runs_in_column(rows, right, colour, below_legend) == 2  # prefill
    assert runs_in_column(rows, right, bytes.fromhex(LIGHT.memory[1:]), below_legend) == 2


def test_missing_figures_draw_no_bar_and_an_empty_run_says_so():
    rows = [BenchRow("m", "int4", "cpu", 2, "short", 10, 0, 30.0, None, 50.0, None)]
    fills = _fills(to_svg(bench_scene(rows, "t")))
    assert fills[LIGHT.cases["short"]] == 2 + 1 and fills[LIGHT.memory] == 1
    assert "No results yet." in to_svg(bench_scene([], "t"))
    assert read_png(to_png(history_scene([("11-26", ROWS), ("11-27", ROWS[:3])])))[0] == WIDTH * 2


def test_csv_and_json_hold_every_row():
    lines = to_csv(ROWS).splitlines()
    assert lines[0].split(",")[:5] == ["model", "precision", "provider", "threads", "case"]
    assert len(lines) == 1 + 6 and lines[1].startswith("SmolLM2,int4,cpu,1,short,44,0,40.0,900.0,60.0,290.0")
    data = json.loads(to_json(ROWS, created=1.0))
    assert data["about"] == {"created": 1.0} and [from_dict(r) for r in data["results"]] == ROWS


def test_write_chart_picks_the_format_from_the_suffix(tmp_path):
    scene = bench_scene(ROWS, "t")
    assert write_chart(scene, tmp_path / "c.svg").read_text().startswith("<svg")
    assert read_png(write_chart(scene, tmp_path / "c.png").read_bytes())[0] == WIDTH * 2


@pytest.mark.slow
def test_cli_bench_draws_the_chart_and_keeps_its_output(default_model_dir, tmp_path):
    chart, out = tmp_path / "bench.png", tmp_path / "bench.json"
    done = subprocess.run([sys.executable, "-m", "engine.cli", "bench", "--model", str(default_model_dir),
                           "--rounds", "1", "--new-tokens", "8", "--threads", "1", "--context", "1024",
                           "--json", str(out), "--chart", str(chart)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    printed = json.loads(done.stdout)
    assert printed == json.loads(out.read_text())
    # The keys it always printed come first, in their old order; the new ones follow.
    assert list(printed)[:5] == ["model", "precision", "provider", "short", "long"]
    assert list(printed["short"])[:3] == ["prompt_tokens", "ttft_ms", "decode_tps"]
    assert printed["chat"]["cached_tokens"] > 0.5 * printed["chat"]["prompt_tokens"]  # the first turn was reused
    assert printed["peak_rss_mb"] > 50
    _w, _h, rows = read_png(chart.read_bytes())
    left = (MARGIN + LABEL_W + 2) * 2
    for case in ("short", "long", "chat"):
        assert runs_in_column(rows, left, bytes.fromhex(LIGHT.cases[case][1:]), 160) == 2, case
