"""``hearth-cli models search`` and ``hearth-cli models pull``: the model catalogue from the command line.

``search`` reads the catalogue shipped with Hearth and never touches the network.
``pull`` asks the hub (``HF_ENDPOINT``, default huggingface.co) for the entry's files,
downloads them resumably, checks each against the hash the hub reports, and installs
the model: an ONNX entry as it is, a GGUF through the converter keeping its quantization.
"""

from __future__ import annotations

import argparse
import sys

from engine.cli.convert_commands import convert_printing, guarded
from engine.core import paths

GB = 2**30


def register(models_subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = models_subparsers.add_parser("search", help="search the model catalogue shipped with Hearth (offline)")
    p.add_argument("words", nargs="*", help="words that must all appear (name, family, quantization...)")
    p.add_argument("--context", type=int, default=4096, help="context length the memory estimate assumes")
    p.add_argument("--fits", action="store_true", help="only models that fit in this machine's memory")
    p.set_defaults(func=_cmd_search)
    p = models_subparsers.add_parser("pull", help="download a catalogue model, verify it and install it")
    p.add_argument("id", help="a catalogue id (see `hearth-cli models search`)")
    p.set_defaults(func=_cmd_pull)


def search_line(entry, context: int, ram: int) -> str:  # noqa: ANN001 - CatalogueEntry
    need = entry.memory_bytes(context) / GB
    fit = "fits" if entry.fits(context, ram) else f"won't fit ({ram / GB:.1f} GB here)"
    return (f"{entry.id}  {entry.name} · {entry.parameters} · {entry.format} {entry.quantization} · "
            f"{entry.size_bytes / GB:.2f} GB · needs ~{need:.1f} GB at {context} tokens: {fit} · {entry.license}")


def _cmd_search(args: argparse.Namespace) -> int:
    from engine.catalogue.entries import load_catalogue, machine_ram

    ram = machine_ram()
    shown = [e for e in load_catalogue() if e.matches(" ".join(args.words)) and (not args.fits or e.fits(args.context, ram))]
    for entry in shown:
        print(search_line(entry, args.context, ram))
    if not shown:
        print("No catalogue model matches.", file=sys.stderr)
        return 1
    return 0


def _cmd_pull(args: argparse.Namespace) -> int:
    from engine.catalogue.download import download
    from engine.catalogue.entries import find, load_catalogue
    from engine.core.errors import EngineError

    def progress(name: str, done: int, total: int) -> None:
        print(f"[{done / max(total, 1):4.0%}] downloading {name} ({done / 2**20:,.1f} of {total / 2**20:,.1f} MB)",
              flush=True)

    def run() -> None:
        entry = find(load_catalogue(), args.id)
        target = paths.models_dir() / entry.id
        if target.exists():
            raise EngineError(f"{entry.id} is already installed in {target}.")
        if entry.format == "onnx":
            folder = download(entry, target, progress)
        else:  # a GGUF keeps its own quantization, as `hearth-cli convert` does by default
            gguf = download(entry, paths.cache_dir() / "downloads" / entry.id, progress) / entry.files[0]
            folder = convert_printing(gguf, target, "int4", "cpu", exact=True)
        print(f"Model ready: {folder}")

    return guarded(run, interrupted="run the same command to resume the download")
