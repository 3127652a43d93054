"""Generation of one sequence as a generator of frozen events.

As in mlx-lm: the runner yields logits, a ``Sequence`` turns them into token ids
and text deltas with stop strings held back, and attaches the running figures.
Several sequences at once run through ``engine.generation.batching`` instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence as Ids


from engine.core.errors import ContextOverflowError, EngineError
from engine.core.events import GenerationEvent, PrefillProgress, SamplingParams
from engine.generation.sampling import validate
from engine.generation.sequence import Sequence
from engine.runtime.model import LoadedModel

# Smaller chunks keep the activation arena (and peak memory) low; 256 costs little speed.
PREFILL_CHUNK = 256
REFEED_TOKENS = 2
ProgressCallback = Callable[[PrefillProgress], None]


def prefill_chunks(runner, slot: int, prompt: Ids[int], chunk: int) -> list[tuple[int, int]]:
    """Trim ``slot`` to the longest prefix it shares with ``prompt``; the (start, end) chunks left to feed."""
    # The last prompt token must be fed again: its logits pick the first new token.
    # Two are re-fed, because ONNX Runtime's quantized MatMul rounds differently for
    # a single row than for several; with two rows, a reused prefix gives bit-for-bit
    # the logits of a cold prefill.
    cached = max(0, min(runner.common_prefix(prompt, slot), len(prompt) - REFEED_TOKENS))
    runner.trim(cached, slot)
    starts = list(range(cached, len(prompt), chunk))
    if len(starts) > 1 and len(prompt) - starts[-1] < REFEED_TOKENS:
        starts.pop()  # no one-row last chunk, for the same reason
    return list(zip(starts, starts[1:] + [len(prompt)]))


def _prefill(model: LoadedModel, seq: Sequence, on_prefill: ProgressCallback | None, chunk: int):
    """Keep the cached prefix, feed the rest in chunks; the last logits, or None if cancelled."""
    runner = model.runner
    chunks = prefill_chunks(runner, seq.slot, seq.prompt, chunk)
    seq.stats.cached_tokens = chunks[0][0]
    logits = None
    for start, end in chunks:
        if seq.cancel.is_set():
            return None
        logits = runner.forward(seq.prompt[start:end], seq.slot)
        if on_prefill is not None:
            on_prefill(PrefillProgress(done=end, total=len(seq.prompt)))
    return logits


def stream_generate(
    model: LoadedModel,
    prompt: Ids[int],
    params: SamplingParams | None = None,
    cancel: threading.Event | None = None,
    on_prefill: ProgressCallback | None = None,
    prefill_chunk: int = PREFILL_CHUNK,
    decode_round: Callable[[Sequence], Iterator[GenerationEvent]] | None = None,
    on_prefilled: Callable[[Sequence], None] | None = None,
) -> Iterator[GenerationEvent]:
    """Stream a reply to ``prompt`` (token ids) in slot 0 as events; the last one has a finish reason.

    After the first token, each ``decode_round(seq)`` feeds the model and yields what it
    confirms (speculative decoding gives one); by default a round is one token.
    ``on_prefilled(seq)`` runs once the prompt is in the cache, before the first token.

    Raises:
        InvalidSamplingError: a setting in ``params`` is out of range.
        ContextOverflowError: the prompt leaves no room in the context.
    """
    params = params or SamplingParams()
    validate(params)  # before any work
    check_prompt(prompt, model.runner.context_length)
    seq = Sequence(model, prompt, params, slot=0, cancel=cancel)
    runner = model.runner
    try:
        logits = _prefill(model, seq, on_prefill, prefill_chunk)
        seq.stats.prefill_end = time.perf_counter()
        if logits is None:
            yield seq.finish("cancelled")
            return
        if on_prefilled is not None:
            on_prefilled(seq)
        yield from seq.step(logits, runner.last_argmax)
        while not seq.done:
            if decode_round is None:
                yield from seq.step(runner.forward(seq.tokens[-1:]), runner.last_argmax)
            else:
                yield from decode_round(seq)
    except EngineError as exc:
        yield seq.finish("error", str(exc))
    except Exception as exc:  # a failing step must end the stream, not the app
        yield seq.finish("error", f"Generation failed: {exc.__class__.__name__}: {exc}")


def check_prompt(prompt: Ids[int], context: int) -> None:
    """Refuse an empty prompt, or one that leaves no room for a reply."""
    if not prompt:
        raise ValueError("the prompt is empty")
    if len(prompt) >= context:
        raise ContextOverflowError(
            f"The prompt is {len(prompt)} tokens but the context holds {context}, leaving no room for a reply. "
            "Shorten the prompt or attachments, or raise the context length in settings."
        )
