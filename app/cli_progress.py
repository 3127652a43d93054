"""Reading the progress lines ``hearth-cli`` prints while it installs, pulls or converts."""

from __future__ import annotations


def progress_fraction(line: str) -> float | None:
    """``"[ 42%] stage"`` -> 0.42; install-default indents its lines (``"  [ 42%] stage"``). None otherwise."""
    line = line.strip()
    if line.startswith("[") and "%]" in line:
        try:
            return float(line[1 : line.index("%]")].strip()) / 100
        except ValueError:
            return None
    return None
