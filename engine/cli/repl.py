"""The chat commands' input loop: one line per turn until /exit, /quit, end of input or Ctrl+C."""

from __future__ import annotations

import sys
from collections.abc import Iterator


def user_lines() -> Iterator[str]:
    while True:
        try:
            line = input("> ")
        except (EOFError, KeyboardInterrupt):
            print(file=sys.stderr)
            return
        if line.strip() in ("/exit", "/quit"):
            return
        yield line
