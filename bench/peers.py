"""Each engine behind one small interface: run ids greedily, time TTFT and decode.

An engine's ``run(ids, new_tokens)`` returns (token ids, ttft seconds, decode tok/s),
timed from the call (after tokenization) to the first and last new token.
Hearth's engine is imported only by ``HearthEngine``, so ``solo.py`` can run a
peer from a venv that has no Hearth (llama-cpp-python's).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Collection, Sequence
from pathlib import Path


def peak_rss_bytes() -> int:
    """This process's peak RSS. VmHWM restarts at exec; ru_maxrss would include the parent's."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _speeds(start: float, first: float, end: float, count: int) -> tuple[float, float]:
    return first - start, (count - 1) / (end - first) if count > 1 and end > first else 0.0


class HearthEngine:
    name = "hearth"

    def __init__(self, folder: Path, threads: int, context: int) -> None:
        from engine.core.events import LoadOptions
        from engine.runtime.model import load_model

        self.model = load_model(folder, LoadOptions(provider="cpu", threads=threads, context_length=context))

    def run(self, ids: Sequence[int], new_tokens: int, cold: bool = True) -> tuple[list[int], float, float]:
        from engine.generation.benchmark import time_one

        timed = time_one(self.model, ids, new_tokens, cold)
        return timed["ids"], timed["ttft_ms"] / 1000, timed["decode_tps"]


class GenaiEngine:
    """onnxruntime-genai's runtime, in its natural use: a fresh generator per request."""

    name = "onnxruntime-genai"

    def __init__(self, folder: Path, threads: int, context: int) -> None:
        import onnxruntime_genai as og

        self.og = og
        config = og.Config(str(folder))
        config.clear_providers()  # CPU: onnxruntime-genai-cuda would otherwise try CUDA
        options = {"intra_op_num_threads": threads, "inter_op_num_threads": 1}
        config.overlay(json.dumps({"model": {"decoder": {"session_options": options}}}))
        self.model = og.Model(config)
        self.context = context

    def run(self, ids: Sequence[int], new_tokens: int, cold: bool = True,
            stop_ids: Collection[int] = ()) -> tuple[list[int], float, float]:
        """EOS is suppressed unless ``stop_ids`` is given: then it stops before any of them."""
        og = self.og
        params = og.GeneratorParams(self.model)
        total = len(ids) + new_tokens
        params.set_search_options(do_sample=False, max_length=total, **({} if stop_ids else {"min_length": total}))
        start = time.perf_counter()
        generator = og.Generator(self.model, params)
        generator.append_tokens(list(ids))
        out: list[int] = []
        first = start
        while not generator.is_done() and len(out) < new_tokens:
            generator.generate_next_token()
            token = int(generator.get_next_tokens()[0])
            if token in stop_ids:
                break
            out.append(token)
            if len(out) == 1:
                first = time.perf_counter()
        end = time.perf_counter()
        return (out, *_speeds(start, first, end, len(out)))


class GenaiKeptChat:
    """onnxruntime-genai as its chat example runs it: one generator kept across turns.

    Each turn appends only the tokens the generator does not hold yet (its sequence is
    the earlier prompts plus its own replies); if the re-rendered history differs from
    what it holds, it rewinds to the common prefix first, as Hearth's cache does.
    """

    name = "genai-kept"

    def __init__(self, genai: GenaiEngine, context: int) -> None:
        og = genai.og
        self.og = og
        params = og.GeneratorParams(genai.model)
        # EOS suppressed throughout, as for the other engines (min_length = max_length).
        params.set_search_options(do_sample=False, max_length=context, min_length=context)
        self.generator = og.Generator(genai.model, params)
        self.held: list[int] = []
        self.appended_tokens: list[int] = []

    def run(self, ids: Sequence[int], new_tokens: int, cold: bool = False) -> tuple[list[int], float, float]:
        ids = list(ids)
        keep = 0
        for a, b in zip(self.held, ids):
            if a != b:
                break
            keep += 1
        keep = min(keep, len(ids) - 1)
        start = time.perf_counter()
        if keep < len(self.held):
            self.generator.rewind_to(keep)
            del self.held[keep:]
        self.generator.append_tokens(ids[keep:])
        self.appended_tokens.append(len(ids) - keep)
        self.held.extend(ids[keep:])
        out: list[int] = []
        first = start
        while len(out) < new_tokens:
            self.generator.generate_next_token()
            out.append(int(self.generator.get_next_tokens()[0]))
            if len(out) == 1:
                first = time.perf_counter()
        end = time.perf_counter()
        self.held.extend(out)
        return (out, *_speeds(start, first, end, len(out)))


class LlamaCppEngine:
    """llama-cpp-python on the original GGUF, when it is installed."""

    name = "llama.cpp"

    def __init__(self, gguf: Path, threads: int, context: int, extra_bufts: bool = True) -> None:
        import llama_cpp.llama_cpp as lib
        from llama_cpp import Llama

        defaults = lib.llama_model_default_params
        if not extra_bufts:
            # No extra buffer types (AMX, weight repacking). A GGML_NATIVE build on this
            # VM picks AMX, whose first tile instruction dies with SIGILL here.
            def no_extra():
                params = defaults()
                params.use_extra_bufts = False
                return params

            lib.llama_model_default_params = no_extra
        try:
            self.llm = Llama(model_path=str(gguf), n_ctx=context, n_threads=threads, n_threads_batch=threads, verbose=False)
        finally:
            lib.llama_model_default_params = defaults
        self.eos = [self.llm.token_eos()]

    def run(self, ids: Sequence[int], new_tokens: int, cold: bool = True) -> tuple[list[int], float, float]:
        llm = self.llm
        if cold:
            llm.reset()  # generate() would otherwise reuse the cached prefix
        out: list[int] = []
        start = time.perf_counter()
        first = start
        # Greedy (top_k=1, temp 0) with EOS suppressed by a logits processor;
        # llm.scores holds only n_batch rows, so no argmax over it here.
        for token in llm.generate(list(ids), top_k=1, temp=0.0, repeat_penalty=1.0, reset=cold, logits_processor=[self._no_eos]):
            out.append(int(token))
            if len(out) == 1:
                first = time.perf_counter()
            if len(out) >= new_tokens:
                break
        end = time.perf_counter()
        return (out, *_speeds(start, first, end, len(out)))

    def _no_eos(self, input_ids, scores):
        scores[self.eos] = -float("inf")
        return scores


class OptimumEngine:
    """optimum's ``ORTModelForCausalLM.generate`` on an optimum export, when optimum is installed.

    optimum runs its own graph (an optimum export, not the GenAI builder's), so its
    ids are not expected to match Hearth's.
    """

    name = "optimum"

    def __init__(self, folder: Path, threads: int, context: int) -> None:
        import onnxruntime as ort
        from optimum.onnxruntime import ORTModelForCausalLM

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.model = ORTModelForCausalLM.from_pretrained(
            str(folder), provider="CPUExecutionProvider", session_options=options
        )

    def run(self, ids: Sequence[int], new_tokens: int, cold: bool = True) -> tuple[list[int], float, float]:
        import torch

        stamps: list[float] = []

        class Clock:
            """A transformers streamer: put() gets the prompt first, then each new token."""

            def put(self, value) -> None:
                stamps.append(time.perf_counter())

            def end(self) -> None:
                pass

        prompt = torch.tensor([list(ids)], dtype=torch.long)
        start = time.perf_counter()
        out = self.model.generate(
            prompt,
            attention_mask=torch.ones_like(prompt),
            do_sample=False,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,  # EOS suppressed, as for the other engines
            streamer=Clock(),
        )
        new = out[0, len(ids) :].tolist()
        first = stamps[1] if len(stamps) > 1 else start
        return (new, *_speeds(start, first, stamps[-1], len(new)))
