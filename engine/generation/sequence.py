"""One request's state while it runs in a KV slot: sampler, detokenizer, stop filter, figures.

A ``Sequence`` turns the logits of its slot's last run into events: it picks the
next token, decides whether the sequence ends (end of sequence, a stop string, the
token limit, a full context, a cancel), detokenizes without splitting a character
and keeps the running figures. It never runs the model: the single-stream loop in
``engine.generation.generate`` and the batch in ``engine.generation.batching`` feed it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence as Ids
from dataclasses import dataclass

import numpy as np

from engine.core.events import FinishReason, GenerationEvent, SamplingParams, StepLogprobs, TokenLogprob
from engine.generation.detokenizer import StreamingDetokenizer
from engine.generation.logprobs import step_logprobs
from engine.generation.sampling import make_distribution, make_sampler
from engine.generation.stop import StopStringFilter
from engine.runtime.model import LoadedModel


@dataclass
class Stats:
    """Running figures for one request."""

    start: float
    prompt_tokens: int
    cached_tokens: int = 0
    prefill_end: float | None = None
    first_token: float | None = None
    last_token: float | None = None
    generated: int = 0

    def ttft(self) -> float | None:
        return None if self.first_token is None else self.first_token - self.start

    def prefill_tps(self) -> float | None:
        if self.prefill_end is None:
            return None
        seconds = self.prefill_end - self.start
        fed = self.prompt_tokens - self.cached_tokens
        return fed / seconds if seconds > 0 else None

    def decode_tps(self) -> float | None:
        # The first token belongs to prefill, so it is not counted here.
        if self.generated < 2 or self.first_token is None or self.last_token is None:
            return None
        seconds = self.last_token - self.first_token
        return (self.generated - 1) / seconds if seconds > 0 else None


class Sequence:
    """One request: its prompt, its slot and everything needed to turn logits into events."""

    def __init__(
        self,
        model: LoadedModel,
        prompt: Ids[int],
        params: SamplingParams,
        slot: int = 0,
        cancel: threading.Event | None = None,
    ) -> None:
        self.model = model
        self.prompt = list(prompt)
        self.params = params
        self.slot = slot
        self.cancel = cancel or threading.Event()
        self.stats = Stats(start=time.perf_counter(), prompt_tokens=len(self.prompt))
        self.tokens: list[int] = []  # generated so far
        self.finish_reason: FinishReason | None = None
        self.drafted = self.accepted = 0  # speculative decoding's running counts
        self.speedup: float | None = None  # and its live speed-up over plain decoding
        self._sample = make_sampler(params)  # validates params
        self._distribution = None if params.temperature == 0.0 else make_distribution(params)
        self._detok = StreamingDetokenizer(model.codec)
        self._stops = StopStringFilter(params.stop)
        self._eos = model.eos_ids
        self._banned = self._eos if params.ignore_eos else frozenset()
        self._suppressed = np.fromiter(self._banned, dtype=np.int64)
        # Plain greedy can take the graph's own argmax and skip scanning the logits.
        self._plain_greedy = params.temperature == 0.0 and params.repetition_penalty == 1.0
        self._wants_logprobs = params.logprobs or params.top_logprobs > 0

    @property
    def done(self) -> bool:
        return self.finish_reason is not None

    @property
    def context_used(self) -> int:
        return len(self.model.runner.slot_ids[self.slot])

    def step(self, logits: np.ndarray, argmax: int | None) -> list[GenerationEvent]:
        """Pick the next token from the slot's last logits: its event, then the closing one if it ends.

        ``logits`` may be a view the next run overwrites; it is read here and not kept.
        """
        if self.cancel.is_set():
            return [self.finish("cancelled")]
        if self._plain_greedy and argmax is not None and argmax not in self._banned:
            return self.take(argmax, logits)
        return self.take(self._sample(self.allowed(logits), self.model.runner.slot_ids[self.slot]), logits)

    def allowed(self, logits: np.ndarray) -> np.ndarray:
        """``logits`` with the tokens this request may never emit (EOS under ``ignore_eos``) at -inf."""
        if not self._suppressed.size:
            return logits
        logits = logits.copy()
        logits[self._suppressed] = -np.inf
        return logits

    def choose(self, logits: np.ndarray, history: Ids[int]) -> int:
        """The token this request would pick from ``logits`` after ``history`` (greedy requests)."""
        return self._sample(self.allowed(logits), history)

    def distribution(self, logits: np.ndarray, history: Ids[int]) -> np.ndarray:
        """The probabilities this request samples its next token from (not for greedy requests)."""
        return self._distribution(self.allowed(logits), history)

    def take(self, token: int, logits: np.ndarray) -> list[GenerationEvent]:
        """Emit ``token``, chosen from ``logits``: its event, then the closing one if the sequence ends."""
        if self.cancel.is_set():
            return [self.finish("cancelled")]
        if token in self._eos:
            return [self.finish("stop")]
        # The model's own distribution, before any token is banned for this request.
        logprobs = self._logprobs(logits, token) if self._wants_logprobs else None
        now = time.perf_counter()
        self.stats.first_token = self.stats.first_token or now
        self.stats.last_token = now
        self.stats.generated += 1
        self.tokens.append(token)
        text, hit = self._stops.feed(self._detok.add(token))
        events = [self.event(text, token, logprobs=logprobs)]
        if hit:
            events.append(self.finish("stop"))
        elif self.stats.generated >= self.params.max_new_tokens:
            events.append(self.finish("length"))
        elif self.context_used + 1 >= self.model.runner.context_length:
            events.append(self.finish("context_full"))
        return events

    def finish(self, reason: FinishReason, error: str | None = None) -> GenerationEvent:
        """End the sequence: the closing event, with any text the filters held back."""
        self.finish_reason = reason
        tail = "" if self._stops.stopped or error else self._stops.finish(self._detok.flush())
        return self.event(tail, None, reason, error)

    def event(
        self,
        text: str,
        token: int | None,
        reason: FinishReason | None = None,
        error: str | None = None,
        logprobs: StepLogprobs | None = None,
    ) -> GenerationEvent:
        stats = self.stats
        return GenerationEvent(
            text=text,
            token_id=token,
            prompt_tokens=stats.prompt_tokens,
            cached_tokens=stats.cached_tokens,
            generated_tokens=stats.generated,
            context_used=self.context_used,
            context_size=self.model.runner.context_length,
            ttft_s=stats.ttft(),
            prefill_tps=stats.prefill_tps(),
            decode_tps=stats.decode_tps(),
            finish_reason=reason,
            error=error,
            logprobs=logprobs,
            drafted_tokens=self.drafted,
            accepted_tokens=self.accepted,
            speedup=self.speedup,
        )

    def _logprobs(self, logits: np.ndarray, token: int) -> StepLogprobs:
        found = step_logprobs(logits, token, self.params.top_logprobs)
        decode = self.model.codec.decode

        def named(entry: TokenLogprob) -> TokenLogprob:
            return TokenLogprob(entry.token_id, entry.logprob, decode([entry.token_id], skip_special_tokens=False))

        return StepLogprobs(named(found.chosen), tuple(named(t) for t in found.top))
