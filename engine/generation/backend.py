"""The engine calls a front end makes, behind one small object the tests can replace.

``Backend`` is what the app's worker needs from an engine; ``EngineBackend`` is the
real one and the only object through which ``app/`` reaches the engine's model and
generation code. The bridge drives whatever object it is given, so bridge tests use
a scripted fake with the same methods instead of a real model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from engine.core.events import GenerationEvent, LoadOptions, LoadReport, ModelInfo, OverflowPolicy, SamplingParams

Message = dict[str, str]
PrefillCallback = Callable[[Any], None]


class Backend(Protocol):
    """What the worker needs from an engine."""

    def load(self, folder: str, options: LoadOptions) -> tuple[ModelInfo, LoadReport]: ...

    def unload(self) -> None: ...

    def stream(
        self,
        messages: Sequence[Message],
        params: SamplingParams,
        policy: OverflowPolicy,
        cancel: threading.Event,
        on_prefill: PrefillCallback,
        continue_last: bool = False,
    ) -> Iterator[GenerationEvent]:
        """``continue_last``: the last message is an unfinished reply to carry on."""
        ...

    def count_tokens(self, text: str) -> int: ...

    def render_prompt(self, messages: Sequence[Message]) -> str: ...


class EngineBackend:
    """The real engine: one loaded model at a time."""

    def __init__(self) -> None:
        self.model: Any = None

    def load(self, folder: str, options: LoadOptions) -> tuple[ModelInfo, LoadReport]:
        from engine.runtime.model import load_model  # imported here: onnxruntime loads on the worker thread

        self.model = None  # free the old session before building the new one
        self.model = load_model(folder, options)
        return self.model.info, self.model.report

    def unload(self) -> None:
        self.model = None

    def stream(
        self,
        messages: Sequence[Message],
        params: SamplingParams,
        policy: OverflowPolicy,
        cancel: threading.Event,
        on_prefill: PrefillCallback,
        continue_last: bool = False,
    ) -> Iterator[GenerationEvent]:
        from engine.core.errors import ModelLoadError
        from engine.generation.chat import stream_chat

        model = self.model
        if model is None:
            raise ModelLoadError("No model is loaded. Pick a model and press Load.")
        return stream_chat(model, list(messages), params, policy, cancel, on_prefill, continue_last)

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text``; safe from any thread (the jobs thread counts documents).

        The engine thread sets ``self.model`` to None at the start of every load, so the
        model is read once: a second read could find it gone. Without a model the
        answer is ``estimate_tokens`` (about four characters a token).
        """
        model = self.model
        if model is None:
            return self.estimate_tokens(text)
        return len(model.codec.encode(text))

    @staticmethod
    def estimate_tokens(text: str) -> int:
        """A rough figure for when no tokenizer is loaded."""
        return max(1, len(text) // 4)

    def render_prompt(self, messages: Sequence[Message]) -> str:
        model = self.model  # read once, as in count_tokens
        if model is None:
            return ""
        return model.codec.render_chat(list(messages))


def read_info(folder: str | Path) -> ModelInfo:
    """Validate a model folder and describe it (reads the graph: call off the GUI thread)."""
    from engine.runtime.model import read_info as _read_info

    return _read_info(Path(folder))
