"""The app's install/convert jobs run their children isolated from the working directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.test_child_isolation import _plant_traps, requires_installed_engine
from tests.helpers.checkpoints import broken_llama


@requires_installed_engine
def test_app_job_children_ignore_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("onnxruntime_genai")
    from app.bridge import ConvertRequest, JobWorker

    markers = tmp_path / "markers"
    markers.mkdir()
    src = broken_llama(tmp_path / "checkpoint")
    _plant_traps(src, markers, "source")
    monkeypatch.chdir(src)
    monkeypatch.setenv("HEARTH_HOME", str(tmp_path / "home"))
    worker = JobWorker(len)
    failures: list[str] = []
    worker.failed.connect(lambda f: failures.append(f.message))
    worker.convert(ConvertRequest(str(src), str(tmp_path / "out")))
    assert sorted(p.name for p in markers.iterdir()) == []
    # The child got as far as the builder, which rejects the fake weights.
    assert len(failures) == 1 and "No module named" not in failures[0], failures
