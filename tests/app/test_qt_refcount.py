"""Regression test for PySide6 releases that leak references to ``None``.

Never skipped by version: whatever PySide6 the environment holds must pass, so a
future release with the same defect fails here before it reaches a user.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROBE = Path(__file__).with_name("qt_refcount_probe.py")


def test_void_qt_calls_keep_references_to_none():
    done = subprocess.run([sys.executable, str(PROBE)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, f"the probe measured nothing (exit {done.returncode}):\n{done.stderr[-2000:]}"
    dropped = {line["call"]: line["drops"] for line in lines if line["drops"] > 0}
    assert not dropped, (
        f"PySide6 {lines[0]['pyside6']} on Python {lines[0]['python']} drops references to None "
        f"(call: references dropped by 600 calls): {dropped}. The interpreter aborts once None's "
        "count reaches zero; keep PySide6-Essentials below this release in pyproject.toml.")
    assert len(lines) == 6 and done.returncode == 0, f"the probe did not finish:\n{done.stderr[-2000:]}"
