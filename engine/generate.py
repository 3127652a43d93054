"""Generation as a generator of frozen events.

Two layers, as in mlx-lm: ``generate_tokens`` reuses the cache, prefills in chunks
and yields token ids; ``stream_generate`` turns them into text deltas with stop
strings held back, and attaches the running speed figures.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from engine.errors import ContextOverflowError, EngineError
from engine.events import GenerationEvent, PrefillProgress, SamplingParams
from engine.model import LoadedModel
from engine.sampling import make_sampler, validate
from engine.stop import StopStringFilter
from engine.tokenizer import StreamingDetokenizer

# Smaller chunks keep the activation arena (and peak memory) low; 256 costs little speed.
PREFILL_CHUNK = 256
REFEED_TOKENS = 2
ProgressCallback = Callable[[PrefillProgress], None]


@dataclass
class _Stats:
    """Running figures for one request, updated by the token layer."""

    start: float
    prompt_tokens: int
    cached_tokens: int = 0
    prefill_end: float | None = None
    first_token: float | None = None
    last_token: float | None = None
    generated: int = 0
    finish_reason: str | None = None

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


def _prefill(
    model: LoadedModel,
    prompt: Sequence[int],
    stats: _Stats,
    cancel: threading.Event,
    on_prefill: ProgressCallback | None,
    chunk: int,
):
    """Keep the cached prefix, feed the rest in chunks; None if cancelled."""
    runner = model.runner
    # The last prompt token must be fed again: its logits pick the first new token.
    # Two are re-fed, because ONNX Runtime's quantized MatMul rounds differently for
    # a single row than for several; with two rows, a reused prefix gives bit-for-bit
    # the logits of a cold prefill.
    cached = max(0, min(runner.common_prefix(prompt), len(prompt) - REFEED_TOKENS))
    runner.trim(cached)
    stats.cached_tokens = cached
    starts = list(range(cached, len(prompt), chunk))
    if len(starts) > 1 and len(prompt) - starts[-1] < REFEED_TOKENS:
        starts.pop()  # no one-row last chunk, for the same reason
    ends = starts[1:] + [len(prompt)]
    logits = None
    for start, end in zip(starts, ends):
        if cancel.is_set():
            return None
        logits = runner.forward(prompt[start:end])
        if on_prefill is not None:
            on_prefill(PrefillProgress(done=end, total=len(prompt)))
    return logits


def generate_tokens(
    model: LoadedModel,
    prompt: Sequence[int],
    params: SamplingParams,
    stats: _Stats,
    cancel: threading.Event,
    on_prefill: ProgressCallback | None = None,
    prefill_chunk: int = PREFILL_CHUNK,
) -> Iterator[int]:
    """Yield new token ids; sets ``stats.finish_reason`` for stop, length, context and cancel."""
    sampler = make_sampler(params)
    runner = model.runner
    logits = _prefill(model, prompt, stats, cancel, on_prefill, prefill_chunk)
    stats.prefill_end = time.perf_counter()
    if logits is None:
        stats.finish_reason = "cancelled"
        return
    eos = model.eos_ids
    banned = eos if params.ignore_eos else frozenset()
    suppressed = np.fromiter(banned, dtype=np.int64)
    # Plain greedy can take the graph's own argmax and skip scanning the logits.
    plain_greedy = params.temperature == 0.0 and params.repetition_penalty == 1.0
    while True:
        if cancel.is_set():
            stats.finish_reason = "cancelled"
            return
        if plain_greedy and runner.last_argmax is not None and runner.last_argmax not in banned:
            token = runner.last_argmax
        else:
            logits[suppressed] = -np.inf  # ignore_eos: never end early, never emit EOS
            token = sampler(logits, runner.ids)
        now = time.perf_counter()
        if token in eos:
            stats.finish_reason = "stop"
            return
        stats.first_token = stats.first_token or now
        stats.last_token = now
        stats.generated += 1
        yield token
        if stats.finish_reason:  # the text layer saw a stop string
            return
        if stats.generated >= params.max_new_tokens:
            stats.finish_reason = "length"
            return
        if len(runner.ids) + 1 >= runner.context_length:
            stats.finish_reason = "context_full"
            return
        logits = runner.forward([token])


def stream_generate(
    model: LoadedModel,
    prompt: Sequence[int],
    params: SamplingParams | None = None,
    cancel: threading.Event | None = None,
    on_prefill: ProgressCallback | None = None,
    prefill_chunk: int = PREFILL_CHUNK,
) -> Iterator[GenerationEvent]:
    """Stream a reply to ``prompt`` (token ids) as events; the last one has a finish reason.

    Raises:
        InvalidSamplingError: a setting in ``params`` is out of range.
        ContextOverflowError: the prompt leaves no room in the context.
    """
    params = params or SamplingParams()
    cancel = cancel or threading.Event()
    validate(params)  # before any work
    context = model.runner.context_length
    if not prompt:
        raise ValueError("the prompt is empty")
    if len(prompt) >= context:
        raise ContextOverflowError(
            f"The prompt is {len(prompt)} tokens but the context holds {context}, leaving no room for a reply. "
            "Shorten the prompt or attachments, or raise the context length in settings."
        )
    stats = _Stats(start=time.perf_counter(), prompt_tokens=len(prompt))
    detok = StreamingDetokenizer(model.codec)
    stops = StopStringFilter(params.stop)

    def event(text: str, token: int | None, reason: str | None = None, error: str | None = None) -> GenerationEvent:
        return GenerationEvent(
            text=text,
            token_id=token,
            prompt_tokens=stats.prompt_tokens,
            cached_tokens=stats.cached_tokens,
            generated_tokens=stats.generated,
            context_used=len(model.runner.ids),
            context_size=context,
            ttft_s=stats.ttft(),
            prefill_tps=stats.prefill_tps(),
            decode_tps=stats.decode_tps(),
            finish_reason=reason,  # type: ignore[arg-type]
            error=error,
        )

    try:
        for token in generate_tokens(model, prompt, params, stats, cancel, on_prefill, prefill_chunk):
            text, hit = stops.feed(detok.add(token))
            if hit:
                stats.finish_reason = "stop"
            yield event(text, token)
    except EngineError as exc:
        yield event("", None, "error", str(exc))
        return
    except Exception as exc:  # a failing step must end the stream, not the app
        yield event("", None, "error", f"Generation failed: {exc.__class__.__name__}: {exc}")
        return
    tail = "" if stops.stopped else stops.finish(detok.flush())
    yield event(tail, None, stats.finish_reason or "stop")
