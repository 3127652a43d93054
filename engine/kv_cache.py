"""The KV cache, owned by the engine and bound to the graph through IOBinding.

Two kinds, chosen from the graph:
- ``SharedKVCache`` for GroupQueryAttention graphs: one buffer per layer, allocated
  once at the chosen context length and bound as both past and present, so nothing
  is copied per token.
- ``ConcatKVCache`` for graphs that grow their cache by Concat: each step's present
  OrtValues are bound as the next step's past, never passing through numpy.
Both know only how many positions they hold; the runner tracks which token ids.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from engine.graph import GraphSpec


def _names(layer: int) -> tuple[str, str, str, str]:
    return (
        f"past_key_values.{layer}.key",
        f"past_key_values.{layer}.value",
        f"present.{layer}.key",
        f"present.{layer}.value",
    )


class SharedKVCache:
    """Preallocated per-layer buffers that serve as past and present at once."""

    def __init__(self, spec: GraphSpec, context_length: int, device: str) -> None:
        shape = [1, spec.kv_heads, context_length, spec.head_size]
        dtype = np.dtype(spec.kv_dtype)
        self.length = 0
        self.capacity = context_length
        self._buffers = [
            (
                ort.OrtValue.ortvalue_from_shape_and_type(shape, dtype, device, 0),
                ort.OrtValue.ortvalue_from_shape_and_type(shape, dtype, device, 0),
            )
            for _ in range(spec.num_layers)
        ]
        self._bound_to: object | None = None

    def bind(self, binding: ort.IOBinding) -> None:
        if self._bound_to is binding:
            return  # the same buffers stay bound for the cache's whole life
        for layer, (key, value) in enumerate(self._buffers):
            past_k, past_v, present_k, present_v = _names(layer)
            binding.bind_ortvalue_input(past_k, key)
            binding.bind_ortvalue_input(past_v, value)
            binding.bind_ortvalue_output(present_k, key)
            binding.bind_ortvalue_output(present_v, value)
        self._bound_to = binding

    def advance(self, binding: ort.IOBinding, new_tokens: int) -> None:
        self.length += new_tokens

    def trim(self, length: int) -> None:
        # Positions past `length` are simply overwritten by the next step.
        self.length = min(self.length, length)


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
