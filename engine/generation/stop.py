"""Stop strings: cut the stream at the first one, never letting part of one leak out."""

from __future__ import annotations

from collections.abc import Sequence


class StopStringFilter:
    """Holds back text that could still become a stop string."""

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._held = ""
        self.stopped = False

    def feed(self, text: str) -> tuple[str, bool]:
        """Return (text safe to show, whether a stop string was hit)."""
        if self.stopped:
            return "", True
        if not self._stops:
            return text, False
        held = self._held + text
        cut = min((i for i in (held.find(s) for s in self._stops) if i >= 0), default=-1)
        if cut >= 0:
            self._held = ""
            self.stopped = True
            return held[:cut], True
        keep = self._partial_suffix(held)
        self._held = held[len(held) - keep :] if keep else ""
        return held[: len(held) - keep], False

    def finish(self, text: str = "") -> str:
        """The end of the stream: release held text that never became a stop string."""
        out, _ = self.feed(text)
        if self.stopped:
            return out
        out, self._held = out + self._held, ""
        return out

    def _partial_suffix(self, text: str) -> int:
        """Length of the longest suffix of ``text`` that begins some stop string."""
        best = 0
        for stop in self._stops:
            for n in range(min(len(stop) - 1, len(text)), best, -1):
                if text.endswith(stop[:n]):
                    best = n
                    break
        return best
