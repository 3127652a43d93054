"""Remember what each model folder's graph says, so listing models reads no graph twice.

The app describes every installed model when it starts. The graph facts behind a
description (layers, KV shape, precision, parameter count) only change when the
folder's files do, so they are kept in a small JSON file per folder under the cache
dir, keyed by the name, size and modification time of every file in the folder.
A cache that cannot be read or written is ignored: it only saves time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

from engine.core import paths
from engine.runtime.graph import GraphSpec

_FORMAT = 1


def cache_file(folder: Path) -> Path:
    digest = hashlib.sha256(str(Path(folder).resolve()).encode("utf-8")).hexdigest()[:32]
    return paths.cache_dir() / "model-info" / f"{digest}.json"


def fingerprint(folder: Path) -> list[list]:
    """(relative path, size, mtime in ns) of every file in the folder and its direct subfolders."""
    entries: list[list] = []
    folders = [(Path(folder), "")]
    while folders:
        current, prefix = folders.pop()
        with os.scandir(current) as it:
            for entry in it:
                name = prefix + entry.name
                if entry.is_dir():
                    if not prefix:  # the onnx-community layout keeps its graphs in onnx/
                        folders.append((Path(entry.path), name + "/"))
                    continue
                try:
                    stat = entry.stat()  # follows symlinks: a changed target counts
                except OSError:
                    continue
                entries.append([name, stat.st_size, stat.st_mtime_ns])
    return sorted(entries)


def cached_spec(folder: Path, compute: Callable[[], GraphSpec]) -> GraphSpec:
    """The folder's ``GraphSpec`` from the cache when its files are unchanged, else ``compute()``'s."""
    try:
        files = fingerprint(folder)
    except OSError:  # an unreadable subfolder: describe the model without the cache
        return compute()
    key = {
        "format": _FORMAT,
        "folder": str(Path(folder).resolve()),
        "fields": [f.name for f in dataclasses.fields(GraphSpec)],
        "files": files,
    }
    path = cache_file(folder)
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored["key"] == key:
            return GraphSpec(**stored["spec"])
    except (OSError, ValueError, TypeError, KeyError):
        pass  # absent, stale or damaged: read the graph
    spec = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        partial.write_text(json.dumps({"key": key, "spec": dataclasses.asdict(spec)}), encoding="utf-8")
        os.replace(partial, path)
    except OSError:
        pass
    return spec
