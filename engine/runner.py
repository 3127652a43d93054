"""Drive one decoder session step by step, keeping its KV cache and the ids behind it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnxruntime as ort

from engine.errors import ContextOverflowError
from engine.graph import ARGMAX_OUTPUT, GraphSpec
from engine.kv_cache import ConcatKVCache, SharedKVCache


class DecoderRunner:
    """Feeds tokens to the graph and returns the last position's logits.

    The runner remembers which token ids its cache holds (``ids``), so callers can
    keep the longest common prefix of a new request and feed only the rest.

    Between two decode steps only a few microseconds of Python should run: right
    after a step the CPU caches are cold and every touch is slow. So the one-token
    input and the outputs live in numpy buffers that ONNX Runtime reads and writes
    in place, bound once; nothing is copied per token.
    """

    def __init__(self, session: ort.InferenceSession, spec: GraphSpec, context_length: int, device: str) -> None:
        self.session = session
        self.spec = spec
        self.context_length = context_length
        self.ids: list[int] = []
        self.last_argmax: int | None = None
        self._binding = session.io_binding()
        self._cache: SharedKVCache | ConcatKVCache = (
            SharedKVCache(spec, context_length, device) if spec.shares_kv_buffer else ConcatKVCache(spec, device)
        )
        self._mask = np.ones((1, context_length), dtype=np.int64)
        self._step = np.zeros((1, 1), dtype=np.int64)
        self._step_value = ort.OrtValue.ortvalue_from_numpy(self._step)
        self._step_bound = False
        self._keep: list[np.ndarray] = []
        outputs = {o.name: o for o in session.get_outputs()}
        logits_meta = outputs["logits"]
        self._logits: np.ndarray | None = None
        if spec.logits_last_only and isinstance(logits_meta.shape[-1], int):
            dtype = np.float16 if "float16" in logits_meta.type else np.float32
            self._logits = np.empty((1, 1, logits_meta.shape[-1]), dtype=dtype)
            self._binding.bind_ortvalue_output("logits", ort.OrtValue.ortvalue_from_numpy(self._logits))
        self._argmax: np.ndarray | None = None
        if ARGMAX_OUTPUT in outputs:
            self._argmax = np.zeros((1, 1), dtype=np.int64)
            self._binding.bind_ortvalue_output(ARGMAX_OUTPUT, ort.OrtValue.ortvalue_from_numpy(self._argmax))

    @property
    def cached_tokens(self) -> int:
        return len(self.ids)

    def common_prefix(self, ids: Sequence[int]) -> int:
        """How many leading ids of ``ids`` the cache already holds."""
        n = 0
        for cached, new in zip(self.ids, ids):
            if cached != new:
                break
            n += 1
        return n

    def trim(self, keep: int) -> None:
        """Forget everything after the first ``keep`` tokens."""
        keep = max(0, min(keep, len(self.ids)))
        del self.ids[keep:]
        self._cache.trim(keep)

    def reset(self) -> None:
        self.trim(0)

    def forward(self, new_ids: Sequence[int]) -> np.ndarray:
        """Append ``new_ids`` to the cache and return the last position's logits ([vocab]).

        The array is a view that the next call overwrites; copy it to keep it.
        ``last_argmax`` holds its argmax when the graph computes one.
        """
        past = len(self.ids)
        total = past + len(new_ids)
        if not new_ids:
            raise ValueError("forward() needs at least one token")
        if total > self.context_length:
            raise ContextOverflowError(
                f"The conversation needs {total} tokens but the context holds {self.context_length}. "
                "Raise the context length in settings or start a new chat."
            )
        self._bind_inputs(new_ids, past, total)
        self._cache.bind(self._binding)
        self.session.run_with_iobinding(self._binding)
        self._cache.advance(self._binding, len(new_ids))
        self.ids.extend(new_ids)
        self.last_argmax = int(self._argmax[0, -1]) if self._argmax is not None else None
        if self._logits is not None:
            logits = self._logits[0, -1]
        else:
            logits = self._binding.get_outputs()[0].numpy()[0, -1]
        return logits if logits.dtype == np.float32 else logits.astype(np.float32)

    def _bind_inputs(self, new_ids: Sequence[int], past: int, total: int) -> None:
        binding = self._binding
        if len(new_ids) == 1:
            self._step[0, 0] = new_ids[0]
            if not self._step_bound:
                binding.bind_ortvalue_input("input_ids", self._step_value)
                self._step_bound = True
        else:
            input_ids = np.asarray(new_ids, dtype=np.int64).reshape(1, -1)
            binding.bind_cpu_input("input_ids", input_ids)
            self._keep = [input_ids]  # the binding points into it until the next call
            self._step_bound = False
        if self.spec.has_attention_mask:
            binding.bind_cpu_input("attention_mask", self._mask[:, :total])
        if self.spec.has_position_ids:
            positions = np.arange(past, total, dtype=np.int64).reshape(1, -1)
            binding.bind_cpu_input("position_ids", positions)
            self._keep.append(positions)
        if self._logits is None:
            # Full-sequence logits change shape each call: let ORT allocate them anew.
            binding.bind_output("logits", "cpu")
