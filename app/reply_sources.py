"""What a reply was shown of its attached documents: its sources and what was left out.

Taken from the composed prompt (``ComposedPrompt.sources`` and ``.omitted``) when the reply
starts, so the chips under a reply name what retrieval put in front of the model, never
what the model's text claims. Stored with the message (``messages.sources``, store
version 5) as compact JSON:
``{"v": 1, "s": [[name, unit, first, last, text, whole], ...], "o": [line, ...]}``.
Stdlib only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from engine.documents.sources import Source

FORMAT_VERSION = 1


@dataclass(frozen=True)
class ReplySources:
    sources: tuple[Source, ...] = ()
    omitted: tuple[str, ...] = ()  # "report.pdf: pages 4-9 not included"

    def __bool__(self) -> bool:
        return bool(self.sources or self.omitted)


def encode(reply: ReplySources) -> str:
    rows = [[s.name, s.unit, s.first, s.last, s.text, int(s.whole)] for s in reply.sources]
    return json.dumps({"v": FORMAT_VERSION, "s": rows, "o": list(reply.omitted)}, separators=(",", ":"))


def decode(stored: str | ReplySources | None) -> ReplySources:
    """The stored JSON (or a pending value) back as ``ReplySources``; empty for NULL or unreadable JSON."""
    if isinstance(stored, ReplySources):
        return stored
    if not stored:
        return ReplySources()
    try:
        data = json.loads(stored)
        sources = tuple(Source(str(n), str(u), int(a), int(b), str(t), bool(w)) for n, u, a, b, t, w in data["s"])
        return ReplySources(sources, tuple(str(line) for line in data["o"]))
    except (ValueError, KeyError, TypeError):
        # A damaged row loses its chips, not the conversation.
        return ReplySources()


def left_out_notice(omitted: tuple[str, ...]) -> str:
    return ("The attachments did not fit the context, so only their most relevant parts were used. "
            "Left out: " + "; ".join(omitted))
