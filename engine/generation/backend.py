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
from typing import Any, Literal, Protocol

from engine.core.events import GenerationEvent, LoadOptions, LoadReport, ModelInfo, OverflowPolicy, SamplingParams

Message = dict[str, str]
PrefillCallback = Callable[[Any], None]
SpeculationMode = Literal["off", "lookup", "draft"]


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
        prefix_ids: Sequence[int] | None = None,
    ) -> Iterator[GenerationEvent]:
        """``continue_last``: the last message is an unfinished reply to carry on; ``prefix_ids``
        its exact token ids, where the backend can use them (a branch from a chosen token)."""
        ...

    def count_tokens(self, text: str) -> int: ...

    def set_speculation(self, mode: SpeculationMode, draft_folder: str | None = None) -> None:
        """Decode replies speculatively from now on; raises ``ModelLoadError`` for an unusable draft."""
        ...

    def compatible_drafts(self, folders: Sequence[str]) -> list[str]:
        """Which of ``folders`` can draft for the loaded model."""
        ...

    def render_prompt(self, messages: Sequence[Message]) -> str: ...


class EngineBackend:
    """The real engine: one loaded model at a time, and the speculation setting for its replies."""

    def __init__(self) -> None:
        self.model: Any = None
        self.options = LoadOptions()
        self.speculation: SpeculationMode = "off"
        self.draft_folder: str | None = None
        self.proposer: Any = None

    def load(self, folder: str, options: LoadOptions) -> tuple[ModelInfo, LoadReport]:
        from engine.runtime.model import load_model  # imported here: onnxruntime loads on the worker thread

        self.model = None  # free the old session before building the new one
        self.model, self.options = load_model(folder, options), options
        self._renew_proposer()
        return self.model.info, self.model.report

    def unload(self) -> None:
        self.model = self.proposer = None

    def set_speculation(self, mode: SpeculationMode, draft_folder: str | None = None) -> None:
        """``off``, ``lookup`` (prompt lookup) or ``draft`` (``draft_folder`` drafts; loaded here).

        A draft that cannot draft for the loaded model raises ``ModelLoadError`` and
        the previous setting stays. A later load keeps the setting, and turns
        speculation off if the new model and the draft no longer match.
        """
        if mode not in ("off", "lookup", "draft"):
            raise ValueError(f"unknown speculation mode {mode!r}")
        if mode == "draft" and not draft_folder:
            raise ValueError("draft speculation needs a draft model folder")
        previous = (self.speculation, self.draft_folder, self.proposer)
        self.speculation, self.draft_folder = mode, draft_folder if mode == "draft" else None
        try:
            self._renew_proposer(strict=True)
        except Exception:
            self.speculation, self.draft_folder, self.proposer = previous
            raise

    def _renew_proposer(self, strict: bool = False) -> None:
        """Build the proposer the setting asks for; with ``strict``, a mismatched draft raises."""
        from engine.core.errors import ModelLoadError
        from engine.generation.proposers import PromptLookup, load_draft
        from engine.runtime.vocabulary import check_draft

        model = self.model
        if self.speculation == "off" or model is None:
            self.proposer = None
            return
        if self.speculation == "lookup":
            self.proposer = PromptLookup()
            return
        try:
            check_draft(model.files.folder, self.draft_folder)
        except ModelLoadError:
            if strict:
                raise
            self.speculation, self.draft_folder, self.proposer = "off", None, None
            return
        current = getattr(self.proposer, "model", None)
        context = model.runner.context_length
        if current is None or current.files.folder != Path(self.draft_folder) or current.runner.context_length != context:
            self.proposer = None  # free the old draft first
            self.proposer = load_draft(self.draft_folder, model, self.options)

    def compatible_drafts(self, folders: Sequence[str]) -> list[str]:
        """Which of ``folders`` can draft for the loaded model (reads tokenizers only)."""
        from engine.runtime.vocabulary import compatible_drafts

        model = self.model  # read once, as in count_tokens
        if model is None:
            return []
        return [str(f) for f in compatible_drafts(model.files.folder, list(folders))]

    def stream(
        self,
        messages: Sequence[Message],
        params: SamplingParams,
        policy: OverflowPolicy,
        cancel: threading.Event,
        on_prefill: PrefillCallback,
        continue_last: bool = False,
        prefix_ids: Sequence[int] | None = None,
    ) -> Iterator[GenerationEvent]:
        from engine.core.errors import ModelLoadError
        from engine.generation.chat import stream_chat

        model = self.model
        if model is None:
            raise ModelLoadError("No model is loaded. Pick a model and press Load.")
        return stream_chat(model, list(messages), params, policy, cancel, on_prefill, continue_last, self.proposer,
                           prefix_ids)

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

    def context_budget(
        self,
        system_prompt: str,
        turns: Sequence[Any],
        params: SamplingParams,
        policy: OverflowPolicy,
        count_tokens: Callable[[str], int] | None = None,
    ) -> Any:
        """How sending ``turns[-1]`` would split the context (a ``ContextBudget``); None without a model.

        Safe from any thread, like ``count_tokens``. See ``engine.generation.budget``.
        """
        from engine.documents.dense import installed_scorer
        from engine.generation.budget import measure_budget

        model = self.model  # read once, as in count_tokens
        if model is None:
            return None
        context = model.runner.context_length
        return measure_budget(model.codec, system_prompt, turns, context, params, policy, count_tokens,
                              installed_scorer())


def read_info(folder: str | Path) -> ModelInfo:
    """Validate a model folder and describe it (reads the graph: call off the GUI thread)."""
    from engine.runtime.model import read_info as _read_info

    return _read_info(Path(folder))
