"""Full garbage collections wait for a quiet, idle window (they held the GIL for ~100 ms)."""

from __future__ import annotations

import gc

from app import idle_gc
from app.idle_gc import IdleCollector


def test_full_collections_run_only_when_idle_and_quiet(qtbot, monkeypatch):
    saved = gc.get_threshold()
    full: list[int] = []
    monkeypatch.setattr(idle_gc.gc, "collect", lambda generation=2: full.append(generation))
    monkeypatch.setattr(idle_gc, "AT_MOST_EVERY_S", 0.0)
    monkeypatch.setattr(idle_gc, "QUIET_S", 0.2)
    idle = [False]
    try:
        collector = IdleCollector(lambda: idle[0])
        assert gc.get_threshold()[2] == idle_gc.NEVER  # nothing automatic in the middle of typing
        collector._on_timer_timeout()
        assert full == []  # a reply is streaming
        idle[0] = True
        collector.touched()
        collector._on_timer_timeout()
        assert full == []  # the user just typed
        qtbot.wait(250)
        collector._on_timer_timeout()
        assert full == [2]
    finally:
        gc.set_threshold(*saved)
