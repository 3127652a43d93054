"""Session fixtures shared by all test layers.

The real default model is built once (from the PyPI wheel's GGUF, through the real
converter) into ``<repo>/.hearth-dev/test-home``, which later runs reuse.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TEST_HOME = REPO / ".hearth-dev" / "test-home"


@contextmanager
def in_test_home() -> Iterator[Path]:
    """HEARTH_HOME set to the shared test home for the duration, then restored."""
    previous = os.environ.get("HEARTH_HOME")
    os.environ["HEARTH_HOME"] = str(TEST_HOME)
    try:
        yield TEST_HOME
    finally:
        if previous is None:
            os.environ.pop("HEARTH_HOME", None)
        else:
            os.environ["HEARTH_HOME"] = previous


def _print(line: str) -> None:
    print(line, flush=True)


# The installers below are the ones `hearth-cli models install-default` runs
# (engine.convert.default_model.install_defaults), so tests build what users get.
@pytest.fixture(scope="session")
def default_model_dir() -> Path:
    """The converted default model folder (built on first use)."""
    from engine.convert.default_model import default_model_dir as target, install_default

    with in_test_home():
        install_default(progress=_print)
        return target()


@pytest.fixture(scope="session")
def default_gguf(default_model_dir) -> Path:
    """The GGUF the default model was built from (downloaded with it)."""
    found = sorted((TEST_HOME / "cache" / "downloads").glob("*.gguf"))
    assert found, "the default model's GGUF was not kept in the download cache"
    return found[0]


@pytest.fixture(scope="session")
def fp32_model_dir(default_gguf) -> Path:
    """The GGUF converted at fp32: exactly the GGUF's weights, no quantized kernels."""
    from engine.convert.pipeline import convert

    target = TEST_HOME / "data" / "models" / "SmolLM2-135M-Instruct-fp32"
    if not (target / "hearth.json").is_file():
        convert(default_gguf, target, precision="fp32")
    return target


@pytest.fixture(scope="session")
def embedder_dir() -> Path:
    """The sentence embedder folder, exported from its PyPI wheel (built on first use)."""
    from engine.convert.embedder_model import install_embedder
    from engine.runtime.embedder import embedder_dir as target

    with in_test_home():
        install_embedder(progress=_print)
        return target()


@pytest.fixture(scope="session")
def embedder_source(embedder_dir) -> Path:
    """The sentence-transformers folder the embedder was exported from (kept in the download cache)."""
    from engine.runtime.embedder import EMBEDDER_NAME

    folder = TEST_HOME / "cache" / "downloads" / EMBEDDER_NAME
    assert (folder / "model.safetensors").is_file(), "the embedder's weights were not kept in the download cache"
    return folder
