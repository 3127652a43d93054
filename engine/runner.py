"""Drive one decoder session step by step, keeping its KV cache and the ids behind it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnxruntime as ort

from engine.errors import ContextOverflowError
from engine.graph import GraphSpec
from engine.kv_cache import ConcatKVCache, SharedKVCache


class DecoderRunner:
    """Feeds tokens to the graph and returns the last position's logits.

    The runner remembers which token ids its cache holds (``ids``), so callers can
    keep the longest common prefix of a new request and feed only the rest.
    """

    def __init__(self, session: ort.InferenceSession, spec: GraphSpec, context_length: int, device: str) -> None:
        self.session = session
        self.spec = spec
        self.context_length = context_length
        self.ids: list[int] = []
        self._device = device
        self._binding = session.io_binding()
        self._cache: SharedKVCache | ConcatKVCache = (
            SharedKVCache(spec, context_length, device) if spec.shares_kv_buffer else ConcatKVCache(spec, device)
        )
        self._mask = np.ones((1, context_length), dtype=np.int64)
        logits_meta = next(o for o in session.get_outputs() if o.name == "logits")
        self._logits_dtype = np.float16 if "float16" in logits_meta.type else np.float32
        self._logits: ort.OrtValue | None = None
        if spec.logits_last_only and isinstance(logits_meta.shape[-1], int):
            vocab = logits_meta.shape[-1]
            self._logits = ort.OrtValue.ortvalue_from_shape_and_type([1, 1, vocab], self._logits_dtype, "cpu", 0)
            self._binding.bind_ortvalue_output("logits", self._logits)
        else:
            self._binding.bind_output("logits", "cpu")
        self._keep: list[np.ndarray] = []

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
        """Append ``new_ids`` to the cache and return the last position's logits (float32, [vocab])."""
        past = len(self.ids)
        total = past + len(new_ids)
        if not new_ids:
            raise ValueError("forward() needs at least one token")
        if total > self.context_length:
            raise ContextOverflowError(
                f"The conversation needs {total} tokens but the context holds {self.context_length}. "
                "Raise the context length in settings or start a new chat."
            )
        input_ids = np.asarray(new_ids, dtype=np.int64).reshape(1, -1)
        binding = self._binding
        binding.bind_cpu_input("input_ids", input_ids)
        keep = [input_ids]
        if self.spec.has_attention_mask:
            mask = self._mask[:, :total]
            binding.bind_cpu_input("attention_mask", mask)
        if self.spec.has_position_ids:
            positions = np.arange(past, total, dtype=np.int64).reshape(1, -1)
            binding.bind_cpu_input("position_ids", positions)
            keep.append(positions)
        self._keep = keep  # the binding points into these arrays until the next call
        if self._logits is None:
            # Full-sequence logits change shape each call: let ORT allocate them anew.
            binding.bind_output("logits", "cpu")
        self._cache.bind(binding)
        self.session.run_with_iobinding(binding)
        self._cache.advance(binding, len(new_ids))
        self.ids.extend(int(i) for i in new_ids)
        if self._logits is not None:
            logits = self._logits.numpy()[0, -1]
        else:
            logits = binding.get_outputs()[0].numpy()[0, -1]
        return logits if logits.dtype == np.float32 else logits.astype(np.float32)
