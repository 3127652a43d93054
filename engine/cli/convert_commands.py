"""``hearth-cli convert`` and ``hearth-cli models install-default``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from engine.core import paths
from engine.core.errors import EngineError

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def register(
    subparsers: argparse._SubParsersAction,  # type: ignore[type-arg]
    models_subparsers: argparse._SubParsersAction | None = None,  # type: ignore[type-arg]
) -> None:
    """Add ``convert`` to ``subparsers`` and ``install-default`` under ``models``.

    Args:
        subparsers: The top-level subcommands.
        models_subparsers: The ``models`` group's subcommands, if the caller made one.
    """
    conv = subparsers.add_parser("convert", help="convert a GGUF file or Hugging Face folder into a Hearth model")
    conv.add_argument("src", help="a .gguf file or a Hugging Face checkpoint folder")
    conv.add_argument("--precision", choices=["int4", "int8", "fp16", "fp32"], default="int4")
    conv.add_argument("--provider", choices=["cpu", "cuda", "dml"], default="cpu")
    conv.add_argument("--out", help="output folder (default: the models folder / <name>)")
    conv.add_argument(
        "--requantize",
        action="store_true",
        help="int4 from a Q4_1 GGUF: let the builder re-quantize (smaller and faster, less faithful) "
        "instead of keeping the GGUF's exact grid",
    )
    conv.add_argument(
        "--fp32-channels",
        type=int,
        metavar="N",
        help="exact GGUF routes: how many of each normed input's largest channels skip the int8 "
        "activations (default 8; 0 gives the fastest graph, a little less faithful: docs/fidelity.md)",
    )
    conv.set_defaults(func=_cmd_convert)

    if models_subparsers is None:
        models = subparsers.add_parser("models", help="manage installed models")
        models_subparsers = models.add_subparsers(dest="models_command", required=True)
    install = models_subparsers.add_parser(
        "install-default", help="download and convert SmolLM2-135M-Instruct and the all-MiniLM-L6-v2 embedder"
    )
    install.set_defaults(func=_cmd_install_default)


def _cmd_convert(args: argparse.Namespace) -> int:
    src = Path(args.src).expanduser()
    out = Path(args.out).expanduser() if args.out else paths.models_dir() / _model_name(src)

    def run() -> None:
        folder = convert_printing(src, out, args.precision, args.provider, exact=not args.requantize,
                                  fp32_channels=args.fp32_channels)  # fmt: skip
        print(f"Model ready: {folder}")

    return guarded(run)


def convert_printing(
    src: Path, out: Path, precision: str, provider: str, exact: bool, fp32_channels: int | None = None
) -> Path:
    """``engine.convert.pipeline.convert``, printing its ``[ 42%] stage`` lines (the app reads them)."""
    from engine.convert.pipeline import convert

    def progress(stage: str, fraction: float) -> None:
        print(f"[{fraction:4.0%}] {stage}", flush=True)

    return convert(src, out, precision, provider, progress, exact=exact, fp32_channels=fp32_channels)


def _cmd_install_default(args: argparse.Namespace) -> int:
    from engine.convert.default_model import install_defaults

    return guarded(lambda: install_defaults(progress=lambda line: print(line, flush=True)))


def _model_name(src: Path) -> str:
    # "SmolLM2-135M-Instruct.Q4_1.gguf" -> "SmolLM2-135M-Instruct"; folders keep their name.
    name = src.name if src.is_dir() else src.name.split(".")[0]
    return name or "model"


def guarded(action: Callable[[], object], interrupted: str = "nothing was installed") -> int:
    """Run ``action``; an engine error or Ctrl+C becomes one ``error:`` line and an exit code."""
    try:
        action()
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"error: interrupted; {interrupted}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0
