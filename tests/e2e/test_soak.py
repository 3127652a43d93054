"""The real window streams real replies for minutes, then quits mid-reply with exit code 0.

CI streams for 120 s (``HEARTH_SOAK_SECONDS`` changes it); the ten-minute run is
``python tests/e2e/soak.py MODEL_DIR`` by hand.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SOAK = Path(__file__).with_name("soak.py")


def test_streaming_for_minutes_then_quitting_mid_reply_exits_cleanly(default_model_dir: Path):
    seconds = float(os.environ.get("HEARTH_SOAK_SECONDS", "120"))
    done = subprocess.run([sys.executable, str(SOAK), str(default_model_dir), "--seconds", str(seconds)],
                          capture_output=True, text=True, timeout=seconds + 300,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    summary = next((json.loads(line) for line in reversed(done.stdout.splitlines()) if line.startswith("{")), None)
    assert summary is not None, f"the soak ended without a summary (exit {done.returncode}):\n{done.stderr[-3000:]}"
    assert summary["paint_events"] > 0, summary
    assert summary["replies"] > 0 and not summary["errors"], summary
    assert summary["quit_mid_reply"], summary
    assert summary["none_fall"] is not None and summary["none_fall"] <= 200, summary
    assert done.returncode == 0, f"exit {done.returncode}:\n{done.stderr[-3000:]}"
