"""Installed models: list them and resolve a name or path to a folder."""

from __future__ import annotations

from pathlib import Path

from engine.core import paths
from engine.core.errors import ModelLoadError

# The model `hearth-cli models install-default` installs (engine/convert/default_model.py
# builds it); named here so listing and loading never import the converter.
DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"


def default_model_dir() -> Path:
    """Where the default model lives once installed."""
    return paths.models_dir() / DEFAULT_MODEL_NAME


def installed_models() -> list[Path]:
    """Model folders under the models dir, skipping unfinished builds (hidden temp folders)."""
    root = paths.models_dir()
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def resolve_model(name_or_path: str | None) -> Path:
    """A folder path, an installed model's name, or (None) the default model."""
    if name_or_path is None:
        name_or_path = DEFAULT_MODEL_NAME
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    installed = paths.models_dir() / name_or_path
    if installed.is_dir():
        return installed
    names = ", ".join(p.name for p in installed_models()) or "none"
    hint = "run `hearth-cli models install-default`" if name_or_path == DEFAULT_MODEL_NAME else "check the name"
    raise ModelLoadError(f"No model folder '{name_or_path}' (installed: {names}); {hint}.")
