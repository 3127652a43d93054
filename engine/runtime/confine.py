"""Keep every file a model folder names inside that folder.

A config or graph that names ``../elsewhere/model.onnx``, an absolute path, or a
symlink that leads out of the folder would make Hearth read files the folder's
author chose anywhere on the disk. Such names are refused with a ``ModelLoadError``
that says which field named them.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath

import onnx
from onnx import TensorProto

from engine.core.errors import ModelLoadError


def confined_file(folder: Path, name: object, field: str, source: str, base: Path | None = None) -> Path:
    """``base / name`` (``base`` defaults to ``folder``), refused unless it stays inside ``folder``.

    Args:
        folder: the model folder everything must stay in.
        name: the relative path as the config or graph wrote it.
        field: the field that named it, for the error message.
        source: the file holding that field, for the error message.
        base: the folder ``name`` is relative to (a graph's own folder for its weights).
    """
    if not isinstance(name, str) or not name:
        raise ModelLoadError(f"{source} has '{field}' = {name!r}, but it must name a file in {folder}.")
    # Either spelling of an absolute path or drive is refused on every system.
    if PurePosixPath(name).is_absolute() or PureWindowsPath(name).anchor:
        raise ModelLoadError(
            f"{source} has '{field}' = {name!r}, an absolute path. A model folder may only name files "
            f"inside itself: give a path relative to {folder}."
        )
    root = Path(folder).resolve()
    path = (base or Path(folder)) / name
    # resolve() follows symlinks, so a link pointing out of the folder is caught too.
    if not path.resolve().is_relative_to(root):
        raise ModelLoadError(
            f"{source} has '{field}' = {name!r}, which leads outside the model folder {folder} "
            "(through '..' or a symlink). Put the file inside the folder and name it relative to it."
        )
    return path


def check_external_data(model: onnx.ModelProto, graph_path: Path, folder: Path) -> None:
    """Every weight file the graph names must lie inside ``folder``."""
    seen: set[str] = set()
    for init in model.graph.initializer:
        if init.data_location != TensorProto.EXTERNAL:
            continue
        location = next((e.value for e in init.external_data if e.key == "location"), "")
        if location in seen:
            continue
        seen.add(location)
        confined_file(
            folder, location, f"location of the weight {init.name!r}", graph_path.name, base=graph_path.parent
        )
