"""The catalogue's entries: what each model is, how big, and whether it fits this machine.

The list is data shipped with Hearth (``catalogue.json`` beside this module), read
without touching the network. The memory estimate is the model's files (their weights
are what the runtime holds) plus the KV cache at the chosen context and a fixed
allowance for activations and the runtime itself.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from engine.core.errors import EngineError

CATALOGUE_FILE = Path(__file__).with_name("catalogue.json")
CATALOGUE_ENV = "HEARTH_CATALOGUE"  # another catalogue file, for tests and administrators
FORMATS = ("gguf", "onnx")
# Activations, the ONNX Runtime arenas and the app itself, measured loosely on the default model.
RUNTIME_ALLOWANCE = 600 * 2**20
KV_BYTES = 4  # the CPU cache holds float32 keys and values


class CatalogueError(EngineError):
    """The catalogue file, or an entry asked for, is not usable; the message says why."""


@dataclass(frozen=True)
class Architecture:
    family: str
    layers: int
    kv_heads: int
    head_dim: int
    context: int  # the longest context the model was trained for


@dataclass(frozen=True)
class CatalogueEntry:
    id: str
    name: str
    repo: str
    format: str  # "gguf" or "onnx"
    files: tuple[str, ...]
    size_bytes: int
    quantization: str
    parameters: str
    architecture: Architecture
    license: str
    card: str
    revision: str = "main"
    subfolder: str = ""  # where the files sit in the repository (a GenAI build's folder); installed flat

    def remote_name(self, name: str) -> str:
        return f"{self.subfolder}/{name}" if self.subfolder else name

    def kv_cache_bytes(self, context: int) -> int:
        a = self.architecture
        return 2 * a.layers * a.kv_heads * a.head_dim * min(context, a.context) * KV_BYTES

    def memory_bytes(self, context: int) -> int:
        """About how much RAM the loaded model takes at ``context`` tokens."""
        return self.size_bytes + self.kv_cache_bytes(context) + RUNTIME_ALLOWANCE

    def fits(self, context: int, ram_bytes: int) -> bool:
        return self.memory_bytes(context) <= ram_bytes

    def matches(self, text: str) -> bool:
        """Every word of ``text`` appears in the name, repo, quantization, family or licence."""
        haystack = " ".join((self.id, self.name, self.repo, self.quantization, self.parameters,
                             self.architecture.family, self.license, self.format)).lower()
        return all(word in haystack for word in text.lower().split())


def load_catalogue(path: Path | None = None) -> list[CatalogueEntry]:
    """The catalogue at ``path``, else the one ``HEARTH_CATALOGUE`` names, else the shipped one."""
    path = path or Path(os.environ.get(CATALOGUE_ENV) or CATALOGUE_FILE)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = [_entry(raw) for raw in data["models"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CatalogueError(f"The model catalogue {path} cannot be read: {exc}") from None
    ids = [e.id for e in entries]
    if len(set(ids)) != len(ids):
        raise CatalogueError(f"The model catalogue {path} lists an id twice.")
    return entries


def find(entries: list[CatalogueEntry], entry_id: str) -> CatalogueEntry:
    for entry in entries:
        if entry.id == entry_id:
            return entry
    raise CatalogueError(f"No catalogue entry is called {entry_id!r}. `hearth-cli models search` lists them.")


def machine_ram() -> int:
    import psutil

    return int(psutil.virtual_memory().total)


def _entry(raw: dict) -> CatalogueEntry:
    arch = Architecture(**raw["architecture"])
    entry = CatalogueEntry(
        id=raw["id"], name=raw["name"], repo=raw["repo"], format=raw["format"], files=tuple(raw["files"]),
        size_bytes=int(raw["size_bytes"]), quantization=raw["quantization"], parameters=raw["parameters"],
        architecture=arch, license=raw["license"], card=raw["card"], revision=raw.get("revision", "main"),
        subfolder=raw.get("subfolder", "").strip("/"),
    )
    if entry.format not in FORMATS:
        raise ValueError(f"{entry.id}: format must be one of {FORMATS}")
    if not entry.files or any(f.startswith("/") or ".." in f.split("/") for f in (*entry.files, entry.subfolder)):
        raise ValueError(f"{entry.id}: files must be relative paths inside the repository")
    if entry.format == "gguf" and [f for f in entry.files if f.endswith(".gguf")] != list(entry.files[:1]):
        raise ValueError(f"{entry.id}: a GGUF entry downloads exactly one .gguf file")
    return entry
