"""The frozen dataclasses that cross the engine's boundary.

Requests go in as ``SamplingParams`` / ``LoadOptions``; generation comes out as a
stream of ``GenerationEvent``; loading reports a ``LoadReport`` and a ``ModelInfo``.
The UI, the CLI, the benchmark and the tests all consume these same objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FinishReason = Literal["stop", "length", "context_full", "cancelled", "error"]
OverflowPolicy = Literal["stop", "drop_oldest", "truncate_middle"]
ProviderChoice = Literal["auto", "cpu", "cuda", "dml", "coreml"]


@dataclass(frozen=True)
class SamplingParams:
    """How to pick each next token. ``temperature == 0`` means greedy."""

    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    min_p: float = 0.0
    repetition_penalty: float = 1.0
    repetition_window: int = 64
    seed: int | None = None
    max_new_tokens: int = 512
    stop: tuple[str, ...] = ()
    ignore_eos: bool = False  # suppress end-of-sequence tokens (benchmarks, tests)
    logprobs: bool = False  # report each chosen token's log-probability
    top_logprobs: int = 0  # and this many most likely alternatives (at most 20)


@dataclass(frozen=True)
class LoadOptions:
    """How to open a model: provider, threads, the context each KV slot holds, and how many slots.

    One slot serves one conversation (the app); a server batches up to ``slots``
    sequences, and KV memory grows with the count. ``spin`` lets the session's threads
    busy-wait between runs: quicker to wake, but they hold the cores another session
    (a draft model) then needs.
    """

    provider: ProviderChoice = "auto"
    threads: int | None = None
    context_length: int = 4096
    slots: int = 1
    spin: bool = True


@dataclass(frozen=True)
class LoadReport:
    """Which execution provider runs the model, and why the better ones don't."""

    provider: str
    device: str
    fallback_reasons: tuple[tuple[str, str], ...] = ()
    load_seconds: float = 0.0

    @property
    def fallback_text(self) -> str:
        return "; ".join(f"{name}: {why}" for name, why in self.fallback_reasons)


@dataclass(frozen=True)
class ModelInfo:
    """What the model picker shows about a model folder."""

    name: str
    path: str
    layout: str
    architecture: str
    parameters: int
    layers: int
    heads: int
    kv_heads: int
    head_size: int
    hidden_size: int
    vocab_size: int
    max_context: int
    precision: str
    size_bytes: int
    kv_bytes_per_token: int
    # From hearth.json: the conversion route, and the source tensors it re-quantized
    # (None when the folder does not record them, e.g. not converted by Hearth).
    route: str = ""
    requantized: tuple[str, ...] | None = None

    def estimated_memory(self, context_length: int) -> int:
        """Weights on disk plus a KV cache sized to ``context_length``."""
        return self.size_bytes + self.kv_bytes_per_token * min(context_length, self.max_context)


@dataclass(frozen=True)
class PrefillProgress:
    """Prefill advanced: ``done`` of ``total`` prompt tokens are in the cache."""

    done: int
    total: int


@dataclass(frozen=True)
class TokenLogprob:
    """One token's log-probability under the model (before temperature and filters)."""

    token_id: int
    logprob: float
    text: str = ""


@dataclass(frozen=True)
class StepLogprobs:
    """The chosen token's log-probability and the most likely alternatives at that step."""

    chosen: TokenLogprob
    top: tuple[TokenLogprob, ...] = ()


@dataclass(frozen=True)
class GenerationEvent:
    """One streamed step. The last event of a stream has ``finish_reason`` set."""

    text: str
    token_id: int | None
    prompt_tokens: int
    cached_tokens: int
    generated_tokens: int
    context_used: int
    context_size: int
    ttft_s: float | None = None
    prefill_tps: float | None = None
    decode_tps: float | None = None
    finish_reason: FinishReason | None = None
    error: str | None = None
    dropped_messages: int = 0
    drafted_tokens: int = 0  # speculative decoding: tokens proposed so far
    accepted_tokens: int = 0  # and how many of them the model confirmed
    speedup: float | None = None  # speculation's live speed-up over one plain step per token
    logprobs: StepLogprobs | None = None
    # Things the user should read once, beside the reply (a remote server ignoring some
    # sampling settings, say). Carried by the first event of a reply, empty elsewhere.
    notices: tuple[str, ...] = ()
    extra: dict[str, float] = field(default_factory=dict, compare=False, hash=False)
