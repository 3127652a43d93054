"""Reading a model folder's JSON config files."""

from __future__ import annotations

import json
from pathlib import Path

from engine.core.errors import ModelLoadError


def read_json(path: Path) -> dict:
    """The file's object, or {} when it is absent; a broken file or a non-object is a ModelLoadError."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        kind = {list: "a list", str: "text", bool: "true/false", type(None): "null"}.get(type(data), "a number")
        raise ModelLoadError(
            f"{path} must hold a JSON object ({{...}}), but it holds {kind}. "
            "Fix the file, or convert or copy the model again."
        )
    return data
