"""GUI tests run offscreen, each with a fresh HEARTH_HOME."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

FALLBACK_MODEL = Path("/tmp/dev/int4")


@pytest.fixture(autouse=True)
def hearth_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "hearth-home"
    monkeypatch.setenv("HEARTH_HOME", str(home))
    return home


@pytest.fixture
def real_model_dir(request: pytest.FixtureRequest) -> Path:
    """The converted default model, from the session fixture in tests/conftest.py."""
    try:
        return Path(request.getfixturevalue("default_model_dir"))
    except pytest.FixtureLookupError:
        override = os.environ.get("HEARTH_TEST_MODEL")
        if override and Path(override).is_dir():
            return Path(override)
        if FALLBACK_MODEL.is_dir():
            return FALLBACK_MODEL
        pytest.skip("needs the real default model: fixture `default_model_dir` (tests/conftest.py) is missing")
