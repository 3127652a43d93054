"""Quitting while a worker is busy: the real window and run loop in a child process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("busy", ["load", "extract"])
def test_quit_while_busy_exits_cleanly_and_fast(busy, tmp_path):
    env = dict(os.environ, HEARTH_HOME=str(tmp_path / "home"), QT_QPA_PLATFORM="offscreen",
               PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "tests.app.quit_app", busy], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=40)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    ended = time.monotonic()  # the same system-wide clock the child printed
    quit_lines = [line for line in out.splitlines() if line.startswith("QUIT ")]
    assert quit_lines, f"the app never got to quit:\n{out}\n{err}"
    took = ended - float(quit_lines[0].split()[1])
    assert proc.returncode == 0, f"exit code {proc.returncode} after {took:.1f} s:\n{err[-2000:]}"
    assert "QThread: Destroyed while thread" not in err
    assert took < 4.0, f"took {took:.1f} s to exit after the quit"
    if busy == "extract":  # the extraction honours its cancel: it stops, nothing is left running
        assert "did not stop in time" not in err
    else:  # a load cannot be interrupted: the app saved its state and left the thread behind
        assert (tmp_path / "home" / "config" / "settings.json").is_file()
