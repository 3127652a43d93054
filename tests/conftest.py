"""Session fixtures shared by all test layers.

The real default model is built once (from the PyPI wheel's GGUF, through the real
converter) into ``<repo>/.hearth-dev/test-home``, which later runs reuse.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TEST_HOME = REPO / ".hearth-dev" / "test-home"


@pytest.fixture(scope="session")
def default_model_dir() -> Path:
    """The converted default model folder (built on first use)."""
    from engine.default_model import default_model_dir as target, install_default

    previous = os.environ.get("HEARTH_HOME")
    os.environ["HEARTH_HOME"] = str(TEST_HOME)
    try:
        install_default(progress=lambda line: print(line, flush=True))
        return target()
    finally:
        if previous is None:
            os.environ.pop("HEARTH_HOME", None)
        else:
            os.environ["HEARTH_HOME"] = previous
