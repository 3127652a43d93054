"""The benchmark's charts as scenes: bars per configuration for each figure, and a history.

``bench_scene`` draws four panels (time to first token, prefill tok/s, decode tok/s,
peak memory); each configuration is a group with one bar per case (short prompt, long
prompt, chat turn), the same colour per case everywhere. ``history_scene`` draws one
figure across earlier runs, one group per run and configuration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.report.results import CASES, BenchRow, configs
from engine.report.scene import Scene, fit, text_width


@dataclass(frozen=True)
class Metric:
    key: str
    title: str
    unit: str
    better: str  # "lower" or "higher"
    per_case: bool = True  # peak memory is one figure per process, not per case


METRICS = (
    Metric("ttft_ms", "Time to first token", "ms", "lower"),
    Metric("prefill_tps", "Prefill", "tok/s", "higher"),
    Metric("decode_tps", "Decode", "tok/s", "higher"),
    Metric("peak_rss_mb", "Peak memory", "MiB", "lower", per_case=False),
)
BY_KEY = {m.key: m for m in METRICS}
CASE_NAMES = {"short": "short prompt", "long": "long prompt", "chat": "chat turn (cache reuse)"}


@dataclass(frozen=True)
class Palette:
    background: str
    text: str
    muted: str
    track: str
    cases: dict[str, str]
    memory: str


LIGHT = Palette("#ffffff", "#1f2328", "#59636e", "#eef1f4",
                {"short": "#3b75af", "long": "#e07b1a", "chat": "#3a923a"}, "#8e6bb8")
DARK = Palette("#1e2024", "#e6e8eb", "#a0a7b0", "#2c3036",
               {"short": "#6fa8e0", "long": "#f0a04b", "chat": "#6cc36c"}, "#b79ae0")

WIDTH = 960
MARGIN = 16
SIZE = 11  # body text
LABEL_W = 180  # the configuration labels left of the bars
VALUE_W = 54  # room for the number after the longest bar
BAR_H, BAR_GAP, GROUP_GAP = 11, 2, 14
PANEL_HEAD = 34


@dataclass(frozen=True)
class Group:
    """One labelled group of bars: a configuration, or a run and configuration in the history."""

    label: str
    detail: str
    rows: tuple[BenchRow, ...]


def bench_scene(rows: Sequence[BenchRow], title: str, subtitle: str = "", dark: bool = False) -> Scene:
    """The four panels for one run's ``rows``."""
    groups = [Group(key[0], rows_of_config[0].config_label(), tuple(rows_of_config))
              for key in configs(rows) for rows_of_config in [[r for r in rows if r.config == key]]]
    return _scene(groups, list(METRICS), title, subtitle, dark)


def history_scene(runs: Sequence[tuple[str, Sequence[BenchRow]]], metric: str = "decode_tps",
                  dark: bool = False) -> Scene:
    """One figure across earlier runs: ``runs`` holds (when, rows) pairs, oldest first."""
    groups = [Group(f"{when} · {key[0]}", rows_of_config[0].config_label(), tuple(rows_of_config))
              for when, rows in runs for key in configs(rows)
              for rows_of_config in [[r for r in rows if r.config == key]]]
    m = BY_KEY[metric]
    title = f"History: {m.title.lower()} ({m.unit}), {len(runs)} run{'s' * (len(runs) != 1)}"
    return _scene(groups, [m], title, "", dark, columns=1, label_w=330)


def _scene(groups: list[Group], metrics: list[Metric], title: str, subtitle: str, dark: bool,
           columns: int = 2, label_w: int = LABEL_W) -> Scene:
    p = DARK if dark else LIGHT
    group_h = len(CASES) * BAR_H + (len(CASES) - 1) * BAR_GAP + GROUP_GAP
    panel_h = PANEL_HEAD + max(len(groups), 1) * group_h
    header = 76
    rows_of_panels = -(-len(metrics) // columns)
    scene = Scene(WIDTH, header + rows_of_panels * (panel_h + MARGIN) + MARGIN, p.background)
    scene.text(MARGIN, 26, title, 15, p.text)
    if subtitle:
        scene.text(MARGIN, 44, subtitle, SIZE, p.muted)
    _legend(scene, p, 58)
    panel_w = (WIDTH - MARGIN * (columns + 1)) / columns
    for i, metric in enumerate(metrics):
        x = MARGIN + (i % columns) * (panel_w + MARGIN)
        y = header + (i // columns) * (panel_h + MARGIN)
        _panel(scene, p, metric, groups, x, y, panel_w, label_w, group_h)
    return scene


def _legend(scene: Scene, p: Palette, baseline: float) -> None:
    x = MARGIN
    for case in CASES:
        scene.rect(x, baseline - 9, 10, 10, p.cases[case])
        scene.text(x + 15, baseline, CASE_NAMES[case], SIZE, p.text)
        x += 15 + text_width(CASE_NAMES[case], SIZE) + 22
    scene.rect(x, baseline - 9, 10, 10, p.memory)
    scene.text(x + 15, baseline, "peak memory (whole process)", SIZE, p.text)


def _panel(scene: Scene, p: Palette, m: Metric, groups: list[Group], x: float, y: float, w: float,
           label_w: float, group_h: float) -> None:
    scene.text(x, y + 14, f"{m.title} ({m.unit})", 13, p.text)
    scene.text(x + w, y + 14, f"{m.better} is better", SIZE, p.muted, anchor="end")
    if not groups:
        scene.text(x, y + PANEL_HEAD + 12, "No results yet.", SIZE, p.muted)
        return
    values = [getattr(r, m.key) for g in groups for r in g.rows]
    top = max((v for v in values if v), default=0.0) or 1.0
    bar_x, bar_w = x + label_w, w - label_w - VALUE_W
    for gi, group in enumerate(groups):
        gy = y + PANEL_HEAD + gi * group_h
        scene.text(x, gy + 12, fit(group.label, SIZE, label_w - 8), SIZE, p.text)
        scene.text(x, gy + 26, fit(group.detail, SIZE - 1, label_w - 8), SIZE - 1, p.muted)
        bars = [(r.case, p.cases[r.case]) for r in group.rows] if m.per_case else [("", p.memory)]
        for bi, (case, colour) in enumerate(bars):
            row = next((r for r in group.rows if r.case == case), group.rows[0]) if case else group.rows[0]
            value = getattr(row, m.key)
            by = gy + bi * (BAR_H + BAR_GAP) + (0 if m.per_case else BAR_H + BAR_GAP)
            scene.rect(bar_x, by, bar_w, BAR_H, p.track)
            if value is None:
                scene.text(bar_x + 4, by + BAR_H - 2, "n/a", SIZE - 1, p.muted)
                continue
            length = max(bar_w * value / top, 1.0)
            scene.rect(bar_x, by, length, BAR_H, colour)
            scene.text(bar_x + length + 4, by + BAR_H - 2, _number(value), SIZE - 1, p.text)


def subtitle_of(rows: Sequence[BenchRow], when: str = "") -> str:
    """"2026-11-27 14:03 · 1 round · 128 new tokens · greedy": how the figures were taken."""
    if not rows:
        return when
    r = rows[0]
    parts = [when] if when else []
    parts += [f"{r.rounds} round{'s' * (r.rounds != 1)} (medians)", f"{r.new_tokens} new tokens, greedy"]
    return " · ".join(parts)


def _number(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"
