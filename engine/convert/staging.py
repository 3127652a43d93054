"""Staging folders beside a destination, named after their owner, and the sweep of stale ones.

A conversion builds in ``.<name>.partial-<pid>-<random>`` next to its destination.
The owner's pid is in the name, so it is recorded the instant the folder exists.
A ``kill -9`` cannot run cleanup, so the next conversion into the same folder
removes every partial folder whose owner process is gone; a running conversion's
folder is never touched.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

from engine.convert.child_process import pid_alive

_OWNED = re.compile(r"^\..+\.partial-(\d+)-[^-]+$")
# Folders from Hearth versions that did not record an owner: only swept once clearly abandoned.
_LEGACY_AGE_S = 24 * 3600


def partial_prefix(out_dir: Path) -> str:
    """The ``tempfile.mkdtemp`` prefix for a staging folder of ``out_dir``, owned by us."""
    return f".{out_dir.name}.partial-{os.getpid()}-"


def sweep_stale(parent: Path) -> list[Path]:
    """Remove the partial folders in ``parent`` whose owner process is gone.

    Returns:
        The folders removed.
    """
    swept: list[Path] = []
    try:
        candidates = [p for p in parent.iterdir() if p.name.startswith(".") and ".partial-" in p.name]
    except OSError:
        return swept  # no such folder yet: nothing to sweep
    for folder in candidates:
        if folder.is_dir() and not folder.is_symlink() and _is_stale(folder):
            shutil.rmtree(folder, ignore_errors=True)
            swept.append(folder)
    return swept


def _is_stale(folder: Path) -> bool:
    match = _OWNED.match(folder.name)
    if match:
        return not pid_alive(int(match.group(1)))
    try:
        return time.time() - folder.stat().st_mtime > _LEGACY_AGE_S
    except OSError:
        return False
