"""The OpenAI request and response shapes Hearth serves, as pydantic models and small builders.

Fields a request leaves out take OpenAI's defaults (temperature 1, top_p 1), not
the app's chat settings. Fields Hearth does not support are refused by name with a
400; they are never silently ignored.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.core.events import GenerationEvent, SamplingParams, StepLogprobs
from engine.core.limits import SAMPLING_LIMITS

# Accepted and honoured; anything else a request names is refused.
_IGNORED_WHEN_DEFAULT = {"n": 1, "frequency_penalty": 0, "presence_penalty": 0, "logit_bias": None,
                         "user": None, "parallel_tool_calls": None, "tool_choice": None, "tools": None,
                         "response_format": None, "store": None, "metadata": None, "service_tier": None,
                         "modalities": None, "audio": None, "prediction": None, "reasoning_effort": None,
                         "functions": None, "function_call": None, "best_of": 1, "suffix": None, "echo": False,
                         "web_search_options": None}  # fmt: skip


def _bounds(name: str) -> dict[str, float]:
    """pydantic's ``Field`` bounds for the engine's sampling limit ``name``."""
    limit = SAMPLING_LIMITS[name]
    return {"ge" if limit.low_inclusive else "gt": limit.low, "le" if limit.high_inclusive else "lt": limit.high}


class OpenAIError(Exception):
    """An error in OpenAI's JSON shape, with its HTTP status."""

    def __init__(self, status: int, message: str, type_: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    include_usage: bool = False


class _Refuses(BaseModel):
    """A request whose fields beyond the declared ones must be in ``_ignored_when_default``, at that value."""

    model_config = ConfigDict(extra="allow", strict=False)
    _ignored_when_default: ClassVar[dict[str, Any]] = _IGNORED_WHEN_DEFAULT

    def refuse_unsupported(self) -> None:
        """Raise a 400 naming the first field Hearth cannot honour."""
        for name, value in (self.model_extra or {}).items():
            if name not in self._ignored_when_default:
                raise OpenAIError(400, f"Unrecognized request argument supplied: {name}", param=name)
            if value is not None and value != self._ignored_when_default[name]:
                raise OpenAIError(400, f"Hearth does not support '{name}' (got {value!r}).", param=name)


class _Common(_Refuses):
    model: str
    temperature: float | None = Field(default=None, **_bounds("temperature"))
    top_p: float | None = Field(default=None, **_bounds("top_p"))
    max_tokens: int | None = Field(default=None, **_bounds("max_new_tokens"))
    stop: str | list[str] | None = None
    seed: int | None = Field(default=None, **_bounds("seed"))
    stream: bool = False
    stream_options: StreamOptions | None = None

    @field_validator("stop")
    @classmethod
    def _at_most_four(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > 4:
            raise ValueError("at most 4 stop sequences")
        return value

    def sampling(self, max_new_tokens: int, logprobs: bool, top_logprobs: int) -> SamplingParams:
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        return SamplingParams(
            temperature=1.0 if self.temperature is None else self.temperature,
            top_p=1.0 if self.top_p is None else self.top_p,
            seed=self.seed,
            max_new_tokens=max_new_tokens,
            stop=stop,
            logprobs=logprobs,
            top_logprobs=top_logprobs,
        )


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[dict[str, Any]]
    name: str | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        parts = []
        for part in self.content:
            if part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise OpenAIError(400, "Only text content parts are supported.", param="messages")
            parts.append(part["text"])
        return "".join(parts)


class ChatCompletionRequest(_Common):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, **_bounds("max_new_tokens"))
    logprobs: bool = False
    top_logprobs: int | None = Field(default=None, **_bounds("top_logprobs"))


class CompletionRequest(_Common):
    prompt: str
    max_tokens: int | None = Field(default=16, **_bounds("max_new_tokens"))  # OpenAI's default for completions
    logprobs: int | None = Field(default=None, ge=0, le=5)


class EmbeddingRequest(_Refuses):
    _ignored_when_default: ClassVar[dict[str, Any]] = {"user": None}

    model: str
    input: Any  # a string or a list of strings; ``texts`` refuses the rest by name
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None

    def texts(self, max_inputs: int) -> list[str]:
        """The texts to embed. Raises a 400 for token ids, non-strings, empty texts or too many."""
        texts = [self.input] if isinstance(self.input, str) else self.input
        if not isinstance(texts, list):
            raise OpenAIError(400, "'input' must be a string or a list of strings.", param="input")
        if not texts:
            raise OpenAIError(400, "'input' is empty: give at least one text.", param="input")
        if len(texts) > max_inputs:
            raise OpenAIError(400, f"'input' has {len(texts)} texts; at most {max_inputs} are embedded per "
                              "request.", param="input")
        for i, text in enumerate(texts):
            if isinstance(text, (int, list)):  # what tiktoken-based clients send for pre-tokenized input
                raise OpenAIError(400, "Hearth embeds text, not token ids: send 'input' as a string or a list "
                                  "of strings.", param="input")
            if not isinstance(text, str):
                raise OpenAIError(400, "'input' must be a string or a list of strings.", param="input")
            if not text:
                raise OpenAIError(400, f"'input[{i}]' is an empty string.", param="input")
        return texts


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def now() -> int:
    return int(time.time())


def finish_reason(event: GenerationEvent) -> str:
    return "length" if event.finish_reason in ("length", "context_full") else "stop"


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def chat_logprobs(steps: list[StepLogprobs]) -> dict[str, Any]:
    def entry(text: str, logprob: float) -> dict[str, Any]:
        return {"token": text, "logprob": logprob, "bytes": list(text.encode("utf-8"))}

    return {"content": [
        {**entry(s.chosen.text, s.chosen.logprob), "top_logprobs": [entry(t.text, t.logprob) for t in s.top]}
        for s in steps
    ]}  # fmt: skip


def completion_logprobs(steps: list[StepLogprobs], offset: int = 0) -> dict[str, Any]:
    offsets, at = [], offset
    for s in steps:
        offsets.append(at)
        at += len(s.chosen.text)
    return {
        "tokens": [s.chosen.text for s in steps],
        "token_logprobs": [s.chosen.logprob for s in steps],
        "top_logprobs": [{t.text: t.logprob for t in s.top} for s in steps],
        "text_offset": offsets,
    }
