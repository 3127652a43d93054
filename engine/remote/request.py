"""The request body a remote server gets, and the sampling settings it would ignore.

OpenAI's chat API carries temperature, top_p, max_tokens, stop, seed and
log-probabilities. Servers differ in what else they take: vLLM, llama.cpp's
server and LM Studio accept top_k and a repetition penalty as extra fields;
Hearth's own server refuses any field it does not honour (HTTP 400), and the
OpenAI service rejects unknown ones too. So each provider kind sends only what
it is known to accept, and the rest is reported by ``ignored_settings`` (the
backend puts that on the first event of a reply as a notice) instead of being
dropped without a word.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.core.events import SamplingParams

Message = dict[str, str]

# Extra fields per kind, as (Hearth setting, the server's field name). Anything not listed
# for a kind is not sent. Kinds are those of engine.remote.providers.PRESETS.
_EXTRAS: dict[str, dict[str, str]] = {
    "vllm": {"top_k": "top_k", "min_p": "min_p", "repetition_penalty": "repetition_penalty",
             "ignore_eos": "ignore_eos"},
    "llamacpp": {"top_k": "top_k", "min_p": "min_p", "repetition_penalty": "repeat_penalty"},
    "lmstudio": {"top_k": "top_k", "repetition_penalty": "repeat_penalty"},
}
_DEFAULTS = SamplingParams()
_LABELS = {"top_k": "top-k", "min_p": "min-p", "repetition_penalty": "repetition penalty",
           "ignore_eos": "ignore end-of-sequence"}


def _changed(params: SamplingParams, name: str) -> bool:
    value = getattr(params, name)
    if name == "top_k":
        return value > 0
    return value != getattr(_DEFAULTS, name)


def ignored_settings(kind: str, params: SamplingParams) -> list[str]:
    """The settings in ``params`` (away from their neutral value) that ``kind`` of server does not take."""
    extras = _EXTRAS.get(kind, {})
    return [_LABELS[name] for name in _LABELS if _changed(params, name) and name not in extras]


def ignored_notice(kind: str, params: SamplingParams) -> str | None:
    """One sentence naming the ignored settings, or None when every setting is honoured."""
    names = ignored_settings(kind, params)
    if not names:
        return None
    return f"This server does not take {', '.join(names)}; {'it is' if len(names) == 1 else 'they are'} not applied."


def chat_body(kind: str, model: str, messages: Sequence[Message], params: SamplingParams,
              continue_last: bool = False) -> dict[str, Any]:
    """The JSON of a streamed ``/chat/completions`` request."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
        "stream": True,
        "stream_options": {"include_usage": True},  # usage arrives in a last chunk where servers support it
        "temperature": params.temperature,
        "max_tokens": params.max_new_tokens,
    }
    if params.top_p < 1.0:
        body["top_p"] = params.top_p
    if params.stop:
        body["stop"] = list(params.stop)[:4]  # OpenAI's limit; Hearth's server enforces it too
    if params.seed is not None:
        body["seed"] = params.seed
    if params.logprobs:
        body["logprobs"] = True
        if params.top_logprobs:
            body["top_logprobs"] = params.top_logprobs
    for name, field in _EXTRAS.get(kind, {}).items():
        if _changed(params, name):
            body[field] = getattr(params, name)
    if continue_last:
        # vLLM's documented way to carry on the last assistant message (engine.remote.backend
        # refuses continue_last for other kinds).
        body["continue_final_message"] = True
        body["add_generation_prompt"] = False
    return body
