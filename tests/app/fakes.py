"""A scripted fake engine for bridge and window tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence

from engine.core.events import GenerationEvent, LoadOptions, LoadReport, ModelInfo, PrefillProgress, SamplingParams


def fake_info(name: str = "fake-model") -> ModelInfo:
    return ModelInfo(name, "/nowhere", "genai", "LlamaForCausalLM", 135_000_000, 30, 9, 3, 64, 576, 49152,
                     8192, "int4", 100_000_000, 30_000)


class ScriptedBackend:
    """A fake engine: yields a fixed list of words, one per ``delay`` seconds."""

    def __init__(self, words: Sequence[str] = ("Hello", " there", ",", " friend", "."), delay: float = 0.0,
                 fail_load: str | None = None, fail_stream: str | None = None, error_event_after: int | None = None,
                 finish: str = "stop", drafts: Sequence[str] = (), refuse_draft: str | None = None):
        self.words = list(words)
        self.delay = delay
        self.fail_load = fail_load
        self.fail_stream = fail_stream
        self.error_event_after = error_event_after
        self.finish = finish  # "length": the reply hit max tokens
        self.calls: list[tuple] = []
        self.loaded = False
        self.continued = False  # the last stream carried on an unfinished reply
        self.drafts = list(drafts)  # the folders compatible_drafts answers with
        self.refuse_draft = refuse_draft  # set_speculation("draft") raises ModelLoadError with this
        self.speculation, self.draft_folder = "off", None

    def load(self, folder: str, options: LoadOptions) -> tuple[ModelInfo, LoadReport]:
        self.calls.append(("load", folder, options))
        if self.fail_load:
            from engine.core.errors import ModelLoadError

            raise ModelLoadError(self.fail_load)
        self.loaded = True
        return fake_info(), LoadReport("cpu", "cpu", (("cuda", "no GPU found"),), 0.01)

    def unload(self) -> None:
        self.loaded = False

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def set_speculation(self, mode: str, draft_folder: str | None = None) -> None:
        self.calls.append(("set_speculation", mode, draft_folder))
        if mode == "draft" and self.refuse_draft:
            from engine.core.errors import ModelLoadError

            raise ModelLoadError(self.refuse_draft)  # like the engine: the previous setting stays
        self.speculation, self.draft_folder = mode, draft_folder if mode == "draft" else None

    def compatible_drafts(self, folders) -> list[str]:
        self.calls.append(("compatible_drafts", tuple(folders)))
        return [f for f in folders if f in self.drafts]

    def render_prompt(self, messages) -> str:
        return "\n".join(f"{m['role']}: {m['content']}" for m in messages)

    def stream(self, messages, params: SamplingParams, policy, cancel: threading.Event, on_prefill,
               continue_last: bool = False, prefix_ids=None) -> Iterator[GenerationEvent]:
        self.calls.append(("stream", tuple(messages), params, policy))
        self.continued = continue_last
        self.prefix_ids = prefix_ids
        if self.fail_stream:
            from engine.core.errors import ContextOverflowError

            raise ContextOverflowError(self.fail_stream)
        return self._events(cancel, on_prefill)

    def _events(self, cancel: threading.Event, on_prefill) -> Iterator[GenerationEvent]:
        on_prefill(PrefillProgress(5, 10))
        on_prefill(PrefillProgress(10, 10))
        n, spec = 0, self.speculation != "off"
        for i, word in enumerate(self.words):
            if cancel.is_set():
                yield self._event("", n, "cancelled", speculating=spec)
                return
            if self.error_event_after is not None and i == self.error_event_after:
                yield self._event("", n, "error", error="the device went away", speculating=spec)
                return
            time.sleep(self.delay)
            n += 1
            yield self._event(word, n, speculating=spec)
        yield self._event("", n, self.finish, speculating=spec)

    @staticmethod
    def _event(text: str, n: int, reason=None, error=None, speculating: bool = False) -> GenerationEvent:
        # Speculating, four guesses per token after the first, and three of four held.
        drafted = 4 * (n - 1) if speculating and n > 1 else 0
        return GenerationEvent(text, n if text else None, 10, 4, n, 10 + n, 1024, ttft_s=0.05,
                               prefill_tps=120.0, decode_tps=40.0 if n > 1 else None,
                               finish_reason=reason, error=error, drafted_tokens=drafted,
                               accepted_tokens=3 * drafted // 4, speedup=1.5 if n > 2 and drafted else None)


from PySide6.QtCore import QObject, Slot  # noqa: E402


class SignalLog(QObject):
    """Receives an EngineWorker's signals on the GUI thread, in order.

    Connecting worker signals to plain lambdas (or pytest-qt's waitSignal) runs them on
    the worker thread; slots of a QObject living on the GUI thread get queued calls,
    like the real window does.
    """

    def __init__(self, worker, on_token=None) -> None:
        super().__init__()
        self.seen: list[tuple] = []
        self.tokens: list[GenerationEvent] = []
        self.finished: list[GenerationEvent] = []
        self.on_token = on_token
        worker.model_loaded.connect(self.loaded)
        worker.prefill_progressed.connect(self.prefill)
        worker.token_generated.connect(self.token)
        worker.generation_finished.connect(self.done)
        worker.failed.connect(self.failure)

    @Slot(object)
    def loaded(self, m) -> None:
        self.seen.append(("loaded", m.info.name))

    @Slot(int, object)
    def prefill(self, rid, p) -> None:
        self.seen.append(("prefill", p.done, p.total))

    @Slot(int, object)
    def token(self, rid, ev) -> None:
        self.seen.append(("token", ev.text))
        self.tokens.append(ev)
        if self.on_token:
            self.on_token(ev)

    @Slot(int, object)
    def done(self, rid, ev) -> None:
        self.seen.append(("finished", ev.finish_reason))
        self.finished.append(ev)

    @Slot(object)
    def failure(self, f) -> None:
        self.seen.append(("failed", f.kind, f.message))
