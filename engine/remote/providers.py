"""Remote providers: presets, and the providers file both the app and the CLI read.

The file is ``providers.json`` in Hearth's config directory (``HEARTH_HOME/config``
when that is set). It holds names, base URLs, kinds and a default model; never a
key. Keys live in the OS keyring (``engine.remote.keys``), looked up by provider
name. A key found in the file (someone edited it by hand) is not read and is
dropped the next time the file is written.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from urllib.parse import urlsplit

from engine.core.errors import EngineError
from engine.core.paths import config_dir

FILE_NAME = "providers.json"
_VERSION = 1


class ProviderError(EngineError):
    """The providers file is damaged, or names no such provider."""


@dataclass(frozen=True)
class Preset:
    """A kind of server: what the dialog shows and where it listens by default."""

    kind: str
    label: str
    base_url: str
    server_command: str  # how to start it, for the dialog's hint and the README


PRESETS: dict[str, Preset] = {p.kind: p for p in (
    Preset("vllm", "vLLM", "http://localhost:8000/v1", "vllm serve MODEL --tensor-parallel-size N"),
    Preset("ollama", "Ollama", "http://localhost:11434/v1", "ollama serve"),
    Preset("llamacpp", "llama.cpp server", "http://localhost:8080/v1", "llama-server -m MODEL.gguf --port 8080"),
    Preset("lmstudio", "LM Studio", "http://localhost:1234/v1", "lms server start"),
    Preset("tgi", "Text Generation Inference (TGI)", "http://localhost:8080/v1",
           "docker run --gpus all -p 8080:80 ghcr.io/huggingface/text-generation-inference --model-id MODEL"),
    Preset("nim", "NVIDIA NIM", "http://localhost:8000/v1", "docker run --gpus all -p 8000:8000 nvcr.io/nim/IMAGE"),
    Preset("hearth", "Hearth (hearth-cli serve)", "http://127.0.0.1:8080/v1", "hearth-cli serve MODEL"),
    Preset("openai", "Other OpenAI-compatible server", "", ""),
)}  # fmt: skip


@dataclass(frozen=True)
class Provider:
    """One remote server the user added. ``model``: the model to pick first ("" = the server's first)."""

    name: str
    base_url: str
    kind: str = "openai"
    model: str = ""
    timeout_s: float = 120.0  # the longest silence allowed between two chunks of a reply
    ca_file: str = ""  # a CA bundle for a server with a self-signed certificate

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ProviderError("A provider needs a name.")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ProviderError(f"{self.base_url!r} is not a server address: give one like http://localhost:8000/v1.")
        if parts.username or parts.password:
            raise ProviderError("Put the API key in the key field, not in the base URL.")
        if self.kind not in PRESETS:
            raise ProviderError(f"Unknown provider kind {self.kind!r}; one of: {', '.join(PRESETS)}.")

    @property
    def host(self) -> str:
        """``host:port`` as the metrics bar and the history show it."""
        parts = urlsplit(self.base_url)
        return parts.netloc

    @property
    def is_local(self) -> bool:
        """The server runs on this machine (the conversation does not leave it)."""
        return (urlsplit(self.base_url).hostname or "") in ("localhost", "127.0.0.1", "::1")


def providers_path() -> Path:
    return config_dir() / FILE_NAME


def load_providers(path: Path | None = None) -> list[Provider]:
    """The providers in the file, in order; [] when there is no file.

    Raises:
        ProviderError: the file is not valid JSON or an entry is unusable (the
            file is left as it is, so nothing the user wrote is lost).
    """
    path = path or providers_path()
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = data["providers"]
        known = {f.name for f in fields(Provider)}
        return [Provider(**{k: v for k, v in entry.items() if k in known}) for entry in entries]
    except ProviderError as exc:
        raise ProviderError(f"{path} has an unusable provider: {exc}") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ProviderError(f"{path} is damaged ({exc}); fix or delete it, then add the providers again.") from None


def save_providers(providers: list[Provider], path: Path | None = None) -> None:
    """Write the file atomically (a crash leaves the old file or the new one, never half)."""
    path = path or providers_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"version": _VERSION, "providers": [asdict(p) for p in providers]}, indent=2) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=".providers-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def add_provider(provider: Provider, replace: bool = False, path: Path | None = None) -> None:
    """Add ``provider`` (or, with ``replace``, overwrite the one with its name)."""
    providers = load_providers(path)
    if any(p.name == provider.name for p in providers) and not replace:
        raise ProviderError(f"A provider named {provider.name!r} exists already; remove it first or pick another name.")
    save_providers([p for p in providers if p.name != provider.name] + [provider], path)


def remove_provider(name: str, path: Path | None = None) -> None:
    providers = load_providers(path)
    find_provider(name, providers)
    save_providers([p for p in providers if p.name != name], path)


def find_provider(name: str, providers: list[Provider] | None = None) -> Provider:
    providers = load_providers() if providers is None else providers
    for provider in providers:
        if provider.name == name:
            return provider
    names = ", ".join(p.name for p in providers) or "none yet"
    raise ProviderError(f"No remote provider is named {name!r} (providers: {names}). "
                        "Add one with: hearth-cli remote add NAME --base-url URL")
