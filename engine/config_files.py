"""Reading a model folder's JSON config files."""

from __future__ import annotations

import json
from pathlib import Path

from engine.errors import ModelLoadError


def read_json(path: Path) -> dict:
    """The file's object, or {} when it is absent; a broken file is a ModelLoadError."""
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path} is not valid JSON: {exc}") from None
