"""A reply's tokens and their probabilities: recorded while it streams, stored with the message.

Each ``ReplyToken`` is one token the model chose, with the text it added to the reply and
its ``StepLogprobs`` (the chosen token's log-probability and the top alternatives). Joined,
the tokens' texts are the reply's text, or the start of it: text that arrives without a
token (a held-back stop-string tail at the very end) is shown unshaded. Token ids are
kept so that a branch from a chosen alternative continues from the exact ids.

Stored as one compact JSON text per message (``messages.token_probs``, store version 3):
``{"v": 1, "t": [[text, id, logprob, [[id, text, logprob], ...]], ...]}``, log-probabilities
rounded to 4 decimals. Stdlib only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from engine.core.events import GenerationEvent, StepLogprobs, TokenLogprob

TOP_ALTERNATIVES = 5  # what the chat asks the engine for, and the hover shows
FORMAT_VERSION = 1
_FLOOR = -99.0  # -inf (a token the request banned) stored as a number JSON can carry


@dataclass(frozen=True)
class ReplyToken:
    text: str  # what this token added to the reply ("" while a character spans tokens)
    step: StepLogprobs

    @property
    def probability(self) -> float:
        return math.exp(self.step.chosen.logprob)

    @property
    def token_id(self) -> int:
        return self.step.chosen.token_id


def probability(entry: TokenLogprob) -> float:
    return math.exp(entry.logprob)


def covered_text(tokens: Sequence[ReplyToken]) -> str:
    return "".join(t.text for t in tokens)


def fits(tokens: Sequence[ReplyToken], content: str) -> bool:
    """Whether ``tokens`` spell the start of ``content`` (otherwise they are not shown)."""
    return bool(tokens) and content.startswith(covered_text(tokens))


def branched(tokens: Sequence[ReplyToken], index: int, alternative: TokenLogprob) -> tuple[ReplyToken, ...]:
    """The tokens before ``index``, then ``alternative`` in place of the token chosen there."""
    step = tokens[index].step
    return tuple(tokens[:index]) + (ReplyToken(alternative.text, StepLogprobs(alternative, step.top)),)


# -- storage ---------------------------------------------------------------------------------
def _lp(value: float) -> float:
    return round(max(value, _FLOOR), 4) if not math.isnan(value) else _FLOOR


def encode(tokens: Sequence[ReplyToken]) -> str:
    """The stored form; "" for none."""
    if not tokens:
        return ""
    rows = [[t.text, t.step.chosen.token_id, _lp(t.step.chosen.logprob),
             [[a.token_id, a.text, _lp(a.logprob)] for a in t.step.top]] for t in tokens]
    return json.dumps({"v": FORMAT_VERSION, "t": rows}, ensure_ascii=False, separators=(",", ":"))


def decode(stored: str | Sequence[ReplyToken] | None) -> tuple[ReplyToken, ...]:
    """Tokens from the stored form (or a pending, not yet written, sequence); () for none or damage."""
    if not stored:
        return ()
    if not isinstance(stored, str):
        return tuple(stored)
    try:
        data = json.loads(stored)
        if not isinstance(data, dict) or data.get("v") != FORMAT_VERSION:
            return ()
        tokens = []
        for text, token_id, logprob, top in data["t"]:
            chosen = TokenLogprob(int(token_id), float(logprob), str(text))
            alternatives = tuple(TokenLogprob(int(i), float(lp), str(t)) for i, t, lp in top)
            tokens.append(ReplyToken(str(text), StepLogprobs(chosen, alternatives)))
        return tuple(tokens)
    except (ValueError, TypeError, KeyError):
        return ()  # a damaged row loses its shading, never the chat


# -- recording ---------------------------------------------------------------------------------
class TokenRecorder:
    """Collects a streaming reply's tokens from its events (on the GUI thread)."""

    def __init__(self, start: Sequence[ReplyToken] = (), broken: bool = False) -> None:
        self._tokens = list(start)
        self._broken = broken

    @classmethod
    def resume(cls, tokens: Sequence[ReplyToken], content: str) -> TokenRecorder:
        """Carry on a reply whose text is ``content``: only if its tokens spell all of it."""
        if not content:
            return cls()
        return cls(tokens) if tokens and covered_text(tokens) == content else cls(broken=True)

    def add(self, event: GenerationEvent) -> None:
        if self._broken:
            return
        if event.logprobs is not None:
            self._tokens.append(ReplyToken(event.text, event.logprobs))
        elif event.text and event.finish_reason is None:
            self._broken = True  # text without probabilities: the shading would not line up

    def snapshot(self) -> tuple[ReplyToken, ...]:
        """What to store now: a copy, since the writer thread reads it later; () when broken."""
        return () if self._broken else tuple(self._tokens)
