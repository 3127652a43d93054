"""The command line, ``hearth-cli``: the top layer, over conversion and generation."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """``hearth-cli``'s entry point (imported on call, so importing this package stays cheap)."""
    from engine.cli.commands import main as run

    return run(argv)
