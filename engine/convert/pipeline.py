"""Turn a GGUF file or a Hugging Face checkpoint into a Hearth model folder.

The heavy steps (transformers' GGUF loader, the GenAI builder) run in child
processes: their memory is returned when they exit and a cancel can stop them.
Everything is built in a temporary folder beside the destination and moved into
place with one ``os.replace``, so the models folder never holds half a model.
"""

from __future__ import annotations

import datetime as _dt
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from engine.convert import child_process, staging
from engine.core.errors import ConversionError, MissingExtraError

Precision = Literal["int4", "int8", "fp16", "fp32"]
Provider = Literal["cpu", "cuda", "dml"]
ProgressFn = Callable[[str, float], None]

PRECISIONS: tuple[str, ...] = ("int4", "int8", "fp16", "fp32")
PROVIDERS: tuple[str, ...] = ("cpu", "cuda", "dml")
CONVERT_EXTRA_HINT = 'pip install "hearth[convert]"'
# The packaged app (PyInstaller sets sys.frozen) leaves the converter out on purpose.
FROZEN_CONVERT_HINT = (
    "the packaged Hearth app does not include the converter (torch, transformers, ONNX Runtime GenAI). "
    'Install Hearth from source with `pip install "hearth[convert]"`, convert with '
    "`hearth-cli models install-default` or `hearth-cli convert SRC`, then open the resulting folder here "
    "with Add model folder… (or copy it into the models folder)"
)
# Module names of the convert extra, checked before any work starts.
_EXTRA_MODULES = ("transformers", "onnxruntime_genai", "onnx", "torch", "gguf", "accelerate", "onnx_ir")
_HF_WEIGHT_GLOBS = ("*.safetensors", "pytorch_model*.bin")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja")


def convert(
    src: str | Path,
    out_dir: str | Path,
    precision: Precision = "int4",
    provider: Provider = "cpu",
    progress: ProgressFn | None = None,
    exact: bool = True,
    fp32_channels: int | None = None,
) -> Path:
    """Convert ``src`` into a runnable model folder at ``out_dir``.

    Args:
        src: A ``.gguf`` file or a Hugging Face folder (config.json + weights).
        out_dir: The folder to create; it must not exist yet.
        precision: Weight precision. For a GGUF, ``int4`` keeps each tensor's own
            grid where an exact route exists (``engine/convert/exact_graph.py``)
            instead of re-quantizing it.
        provider: The execution provider the graph is built for.
        progress: Called with ``(stage, fraction)`` as the work advances.
        exact: For a GGUF at ``int4`` on CPU, keep its exact weights per tensor:
            4- or 8-bit blocks, plus a per-block correction for types with a float
            minimum (default; a Q4_1 file lands within 0.5 % of fp32 perplexity, at
            about 2/3 of plain int4's decode speed). False lets the builder
            re-quantize everything to plain int4 (ppl +25 %, fastest, smallest).
        fp32_channels: With ``exact``, how many of each normed projection input's
            largest channels skip the int8 activations; None: ``outlier_channels.CHANNELS``, 0: none.

    Returns:
        ``out_dir``, complete.

    Raises:
        ConversionError: bad input or a failed step; nothing is left behind.
        MissingExtraError: the convert extra is not installed.
    """
    report = progress or (lambda stage, fraction: None)
    # Absolute: the children run in the staging folder, not in our working directory.
    src, out_dir = Path(src).expanduser().absolute(), Path(out_dir).expanduser().absolute()
    if precision not in PRECISIONS:
        raise ConversionError(f"Unknown precision '{precision}'; choose one of {', '.join(PRECISIONS)}.")
    if provider not in PROVIDERS:
        raise ConversionError(f"Unknown provider '{provider}'; choose one of {', '.join(PROVIDERS)}.")
    if fp32_channels is not None and fp32_channels < 0:
        raise ConversionError(f"--fp32-channels must be 0 or more, not {fp32_channels}.")
    if not src.exists():
        raise ConversionError(f"{src} does not exist.")
    if out_dir.exists():
        raise ConversionError(f"{out_dir} already exists; remove it or choose another --out.")
    staging.sweep_stale(out_dir.parent)  # leftovers of conversions killed with -9
    require_convert_extra()

    report("checking source", 0.0)
    kind = _source_kind(src)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with _staging_dir(out_dir) as stage:
        model_dir = stage / "model"
        if kind == "gguf":
            meta = _convert_gguf(src, stage, model_dir, precision, provider, report, exact, fp32_channels)
        else:
            meta = _convert_hf(src, stage, model_dir, precision, provider, report)
        meta.update(
            {
                "source": str(src.resolve()),
                "source_kind": kind,
                "precision": precision,
                "provider": provider,
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            }
        )
        (model_dir / "hearth.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        report("finishing", 0.98)
        os.replace(model_dir, out_dir)
    report("done", 1.0)
    return out_dir


def require_convert_extra() -> None:
    """Raise ``MissingExtraError`` unless every converter package is importable.

    In a packaged app it always raises: there ``sys.executable`` is the app itself, so the
    converter's ``python -m ...`` child processes (and pip) cannot be started at all.
    """
    if getattr(sys, "frozen", False):
        raise MissingExtraError(f"Installing or converting models needs the converter, and {FROZEN_CONVERT_HINT}.")
    missing = [m for m in _EXTRA_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingExtraError(
            f"Converting models needs packages that are not installed ({', '.join(missing)}): {CONVERT_EXTRA_HINT}"
        )


# -- the two source kinds ------------------------------------------------------------
def _source_kind(src: Path) -> str:
    from engine.convert.gguf_source import GGUFSource, is_gguf

    if src.is_file():
        if not is_gguf(src):
            raise ConversionError(
                f"{src} is not a GGUF file (it does not start with the GGUF magic bytes); "
                "give a .gguf file or a Hugging Face folder with config.json."
            )
        GGUFSource(src)  # checks the architecture up front
        return "gguf"
    config = src / "config.json"
    if not config.is_file():
        raise ConversionError(f"{src} is a folder without config.json; it is not a Hugging Face checkpoint.")
    try:
        archs = json.loads(config.read_text(encoding="utf-8")).get("architectures") or []
    except (OSError, ValueError) as exc:
        raise ConversionError(f"{config} cannot be read as JSON: {exc}") from exc
    known = builder_architectures()
    if not archs or archs[0] not in known:
        name = archs[0] if archs else "(none listed)"
        raise ConversionError(
            f"{src} is a {name} model, which the ONNX Runtime GenAI builder cannot convert. "
            f"Supported architectures include {', '.join(sorted(known)[:12])}, ..."
        )
    if not any(any(src.glob(g)) for g in _HF_WEIGHT_GLOBS):
        raise ConversionError(f"{src} has config.json but no weights (*.safetensors).")
    return "hf"


def builder_architectures() -> frozenset[str]:
    """Architectures the installed GenAI builder dispatches on (read from its source)."""
    spec = importlib.util.find_spec("onnxruntime_genai")
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    builder = Path(next(iter(spec.submodule_search_locations))) / "models" / "builder.py"
    text = builder.read_text(encoding="utf-8") if builder.exists() else ""
    return frozenset(re.findall(r'architectures\[0\] == "(\w+)"', text))


def _convert_gguf(
    src: Path, stage: Path, model_dir: Path, precision: str, provider: str, report: ProgressFn, exact: bool,
    fp32_channels: int | None,
) -> dict[str, object]:
    from engine.convert import config_repair, tokenizer_repair
    from engine.convert.gguf_source import GGUFSource

    gguf = GGUFSource(src)
    hf_dir = stage / "hf"
    report("reading GGUF weights", 0.05)
    _run_step(
        child_process.python_module("engine.convert", "hf-export", str(src), str(hf_dir)),
        stage / "export.log",
        "Loading the GGUF with transformers",
    )
    report("building ONNX graph", 0.35)
    _run_builder(hf_dir, model_dir, stage, precision, provider)
    repairs = config_repair.read_notes(hf_dir)
    shutil.rmtree(hf_dir, ignore_errors=True)  # ~0.5 GB of fp32 weights, no longer needed

    meta: dict[str, object] = {"source_weights": gguf.main_weight_type(), "route": f"builder-{precision}"}
    if repairs:
        meta["config_repairs"] = repairs
    report("repairing tokenizer", 0.65)  # before the exact weights: choosing outlier channels tokenizes
    tok_meta = gguf.tokenizer()
    tokenizer_repair.repair_from_gguf(model_dir, tok_meta)
    meta["tokenizer_checks"] = tokenizer_repair.verify_against_gguf(model_dir, tok_meta)
    if exact and precision == "int4" and provider == "cpu":
        from engine.convert import exact_graph, outlier_channels

        report("carrying the GGUF's own weights", 0.75)
        count = outlier_channels.CHANNELS if fp32_channels is None else fp32_channels
        outliers = outlier_channels.choose(model_dir, count) if count else {}
        summary = exact_graph.apply(gguf, model_dir, outliers)
        meta["route"] = exact_graph.ROUTE
        meta["exact"] = summary
        meta["requantized"] = summary["requantized"]
        if summary["requantized"]:
            kinds = sorted({gguf.tensor_type(n) for n in summary["requantized"] if n in gguf.tensor_names()})
            report(f"no exact route for {', '.join(kinds) or 'some nodes'}: re-quantized "
                   f"{len(summary['requantized'])} tensors to int4", 0.85)  # fmt: skip
    elif precision == "fp32":
        meta["requantized"] = []  # transformers dequantizes every tensor to fp32 exactly
    return meta


def _convert_hf(
    src: Path, stage: Path, model_dir: Path, precision: str, provider: str, report: ProgressFn
) -> dict[str, object]:
    from engine.convert import tokenizer_repair

    report("building ONNX graph", 0.1)
    _run_builder(src, model_dir, stage, precision, provider)
    report("copying tokenizer", 0.9)
    # The builder rewrites tokenizer.json and can lose its pre-tokenizer; the
    # source's own files are the truth for a Hugging Face checkpoint.
    for name in _TOKENIZER_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, model_dir / name)
    ids = _hf_special_ids(src)
    tokenizer_repair.set_special_ids(model_dir, ids.get("bos_token_id"), ids.get("eos_token_id"))
    return {"route": f"builder-{precision}"}


def _hf_special_ids(src: Path) -> dict[str, int | None]:
    ids: dict[str, int | None] = {}
    for name in ("config.json", "generation_config.json"):  # the later file wins, as in transformers
        path = src / name
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            for key in ("bos_token_id", "eos_token_id"):
                value = data.get(key)
                if isinstance(value, list):  # several stop ids: the first is the turn end
                    value = value[0] if value else None
                if value is not None:
                    ids[key] = int(value)
    return ids


# -- child processes -----------------------------------------------------------------
def _run_builder(src: Path, out: Path, stage: Path, precision: str, provider: str) -> None:
    from engine.convert import config_repair

    # The same builder, started through config_repair.py so its config repairs apply.
    cmd = child_process.python_script(
        Path(config_repair.__file__),
        "-i", str(src), "-o", str(out), "-p", precision, "-e", provider, "-c", str(stage / "cache"),
    )  # fmt: skip
    _run_step(cmd, stage / "builder.log", "The ONNX Runtime GenAI builder")
    if not (out / "genai_config.json").is_file():
        raise ConversionError(f"The ONNX Runtime GenAI builder produced no genai_config.json (log: {out}).")


def _run_step(cmd: list[str], log: Path, what: str) -> None:
    """Run ``cmd`` to completion; kill it if we are interrupted.

    It runs isolated in the staging folder (the log's folder), so nothing in the
    source folder or our working directory can be imported by it.
    """
    env = {**os.environ, "TQDM_DISABLE": "1"}
    with open(log, "wb") as fh:
        proc = child_process.popen(cmd, cwd=log.parent, stdout=fh, stderr=subprocess.STDOUT, env=env)
        try:
            code = proc.wait()
        except BaseException:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            raise
    if code != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-8:]
        raise ConversionError(f"{what} failed (exit code {code}):\n  " + "\n  ".join(tail))


@contextmanager
def _staging_dir(out_dir: Path) -> Iterator[Path]:
    """A temp folder beside ``out_dir`` (same filesystem), removed on any exit."""
    # The SIGTERM handler goes in first so no signal can land between mkdtemp and try.
    with _sigterm_as_interrupt():
        stage = Path(tempfile.mkdtemp(prefix=staging.partial_prefix(out_dir), dir=out_dir.parent))
        try:
            yield stage
        finally:
            shutil.rmtree(stage, ignore_errors=True)


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt so ``finally`` blocks clean up."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def _raise(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# -- the child's work for ``python -m engine.convert hf-export SRC OUT`` (see __main__.py) --
def _hf_export(src: Path, out: Path) -> None:
    """Dequantize a GGUF with transformers (bit-exact) and save it as a HF folder."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(src.parent), gguf_file=src.name, dtype=torch.float32)
    # save_pretrained refuses GGUF-loaded models until the quantizer config is gone.
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer.remove_quantization_config(model)
    model.save_pretrained(str(out))
    AutoTokenizer.from_pretrained(str(src.parent), gguf_file=src.name).save_pretrained(str(out))
