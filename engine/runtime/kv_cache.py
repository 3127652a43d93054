"""The KV cache of graphs that grow it by Concat (optimum and onnx-community exports).

Each step's present OrtValues are bound as the next step's past, never passing
through numpy. Every sequence's past has its own shape, so such a graph cannot run
several sequences in one batch: it has one slot. GroupQueryAttention graphs use
``engine.runtime.kv_pool.KVPool`` instead. The cache knows only how many positions it holds;
the runner tracks which token ids.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from engine.runtime.graph import GraphSpec
from engine.runtime.kv_pool import kv_names as _names


class ConcatKVCache:
    """Present OrtValues carried to the next step as past."""

    def __init__(self, spec: GraphSpec, device: str) -> None:
        self.length = 0
        self._spec = spec
        self._device = device
        self._values: list[ort.OrtValue] = self._empty()
        self._present_names = [n for layer in range(spec.num_layers) for n in _names(layer)[2:]]

    def _empty(self) -> list[ort.OrtValue]:
        shape = (1, self._spec.kv_heads, 0, self._spec.head_size)
        empty = np.zeros(shape, dtype=self._spec.kv_dtype)
        return [ort.OrtValue.ortvalue_from_numpy(empty, self._device, 0) for _ in range(2 * self._spec.num_layers)]

    def bind(self, binding: ort.IOBinding) -> None:
        for layer in range(self._spec.num_layers):
            past_k, past_v, present_k, present_v = _names(layer)
            binding.bind_ortvalue_input(past_k, self._values[2 * layer])
            binding.bind_ortvalue_input(past_v, self._values[2 * layer + 1])
            binding.bind_output(present_k, self._device)
            binding.bind_output(present_v, self._device)

    def advance(self, binding: ort.IOBinding, new_tokens: int) -> None:
        outputs = binding.get_outputs()
        # Outputs come back in binding order; the presents were bound last.
        self._values = list(outputs[-len(self._present_names):])
        self.length += new_tokens

    def trim(self, length: int) -> None:
        if length >= self.length:
            return
        if length == 0:
            self._values = self._empty()
        else:
            # A rare, whole-request event (regenerate, edit): one copy is fine here.
            self._values = [
                ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(v.numpy()[:, :, :length]), self._device, 0)
                for v in self._values
            ]
        self.length = length
