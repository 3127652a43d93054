"""The allowed range of every sampling setting, defined once.

The engine's ``validate``, ``hearth-cli``'s flags, the app's settings panel and the
server's request models all read ``SAMPLING_LIMITS``, so a value one of them accepts
the others accept too. The ranges follow OpenAI's API where it has the setting
(temperature 0-2, top_p in (0, 1], top_logprobs 0-20).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass


def _plain(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 2**53 else f"{value:g}"


def range_phrase(low: float, high: float, low_inclusive: bool = True, high_inclusive: bool = True,
                 fmt: Callable[[float], str] = _plain) -> str:
    """How a range reads in a message: "between 0 and 2", "above 0 and at most 1", "at least 0 and below 1"."""
    if low_inclusive and high_inclusive:
        return f"between {fmt(low)} and {fmt(high)}"
    return (f"{'at least' if low_inclusive else 'above'} {fmt(low)} and "
            f"{'at most' if high_inclusive else 'below'} {fmt(high)}")


@dataclass(frozen=True)
class Limit:
    """One setting's type, range (each end inclusive or not), default and a one-line description."""

    name: str
    kind: type  # int or float
    low: float
    high: float
    default: float | None
    description: str
    low_inclusive: bool = True
    high_inclusive: bool = True

    @property
    def whole(self) -> bool:
        return self.kind is int

    def phrase(self, fmt: Callable[[float], str] = _plain) -> str:
        return range_phrase(self.low, self.high, self.low_inclusive, self.high_inclusive, fmt)

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies inside the range (its type is not checked)."""
        above = value >= self.low if self.low_inclusive else value > self.low
        below = value <= self.high if self.high_inclusive else value < self.high
        return above and below

    def problem(self, value: object) -> str | None:
        """Why ``value`` is not allowed, or None if it is."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{self.name} must be a number (got {value!r})"
        if not math.isfinite(value) or not self.contains(value):
            return f"{self.name} must be {self.phrase()} (got {_plain(value)})"
        if self.whole and float(value) != int(value):
            return f"{self.name} must be a whole number (got {value})"
        return None

    def help(self) -> str:
        """The description with the range, for a ``--flag``'s help."""
        return f"{self.description}; {self.phrase()}"


SAMPLING_LIMITS: dict[str, Limit] = {limit.name: limit for limit in (
    Limit("temperature", float, 0.0, 2.0, 0.0, "randomness of sampling (0 = greedy, always the most likely token)"),
    Limit("top_k", int, 0, 1000, 0, "sample among the k most likely tokens (0 = off)"),
    Limit("top_p", float, 0.0, 1.0, 1.0, "sample among the most likely tokens that reach this probability (1 = off)",
          low_inclusive=False),
    Limit("min_p", float, 0.0, 1.0, 0.0, "drop tokens less likely than this share of the most likely one (0 = off)",
          high_inclusive=False),
    Limit("repetition_penalty", float, 0.0, 2.0, 1.0, "make recently seen tokens less likely (1 = off)",
          low_inclusive=False),
    Limit("repetition_window", int, 0, 32768, 64, "how many recent tokens the repetition penalty looks at"),
    Limit("max_new_tokens", int, 1, 32768, 512, "the most tokens one answer may have"),
    Limit("seed", int, 0, 2**31 - 1, None, "random seed, for repeatable sampling (none = a new seed each time)"),
    Limit("top_logprobs", int, 0, 20, 0, "how many most likely alternatives to report at each step"),
)}  # fmt: skip
