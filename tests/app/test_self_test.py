"""``hearth --self-test`` (what CI runs on the packaged bundle), run here from source."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _self_test(home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HEARTH_HOME": str(home), "PYTHONPATH": str(REPO)}
    env.pop("QT_QPA_PLATFORM", None)  # the self-test must choose offscreen itself
    return subprocess.run([sys.executable, "-m", "app.main", "--self-test"], cwd=home, env=env,
                          capture_output=True, text=True, timeout=300)


def test_self_test_fails_clearly_without_the_default_model(tmp_path: Path) -> None:
    proc = _self_test(tmp_path)
    assert proc.returncode == 1
    assert "default model is not installed" in proc.stdout
    assert "Qt platform offscreen" in proc.stdout
    assert "PySide6 6." in proc.stdout


@pytest.mark.slow
def test_self_test_streams_a_reply_and_leaves_the_home_untouched(tmp_path: Path, default_model_dir: Path) -> None:
    models = tmp_path / "data" / "models"
    models.mkdir(parents=True)
    try:
        (models / default_model_dir.name).symlink_to(default_model_dir, target_is_directory=True)
    except OSError:  # Windows without symlink rights
        shutil.copytree(default_model_dir, models / default_model_dir.name)
    proc = _self_test(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "self-test: PASSED" in proc.stdout
    assert "TTFT" in proc.stdout and "tok/s" in proc.stdout
    # Settings and conversations went to a throwaway home, not this one.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["models"]
