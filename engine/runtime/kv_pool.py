"""A pool of KV-cache slots for GroupQueryAttention graphs, bound through IOBinding.

Per layer, one ``[slots, kv_heads, context, head_size]`` buffer for keys and one for
values, allocated once at the chosen context length. A slot is a row. The same
memory is bound as past and as present, so a step writes its new keys in place and
nothing is copied per token.

A run binds a contiguous range of rows by address: one row for a prefill at batch 1,
rows ``0..n-1`` for a decode tick. ONNX Runtime's CPU GroupQueryAttention takes a
ragged batch of one-token rows (each row's length comes from its attention-mask
count), but refuses several tokens per row once a past exists, so prefill rows and
decode rows never share a run.

The pool knows only positions; the runner tracks which token ids each slot holds.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from engine.runtime.graph import GraphSpec


def kv_names(layer: int) -> tuple[str, str, str, str]:
    return (
        f"past_key_values.{layer}.key",
        f"past_key_values.{layer}.value",
        f"present.{layer}.key",
        f"present.{layer}.value",
    )


class KVPool:
    """``slots`` rows of KV cache per layer, shared between past and present."""

    def __init__(self, spec: GraphSpec, slots: int, context_length: int, device: str) -> None:
        if slots < 1:
            raise ValueError("a KV pool needs at least one slot")
        self.slots = slots
        self.capacity = context_length
        self._device = device
        self._dtype = np.dtype(spec.kv_dtype)
        self._row_shape = [spec.kv_heads, context_length, spec.head_size]
        self._row_bytes = spec.kv_heads * context_length * spec.head_size * self._dtype.itemsize
        shape = [slots, *self._row_shape]
        # Untouched pages are never made resident, so a long context costs memory only as it fills.
        self._buffers = [
            (
                ort.OrtValue.ortvalue_from_shape_and_type(shape, self._dtype, device, 0),
                ort.OrtValue.ortvalue_from_shape_and_type(shape, self._dtype, device, 0),
            )
            for _ in range(spec.num_layers)
        ]
        self._bound: dict[int, tuple[int, int]] = {}  # id(binding) -> (first row, row count)

    def bind_rows(self, binding: ort.IOBinding, first: int, count: int) -> None:
        """Bind rows ``first .. first+count-1`` as the past and present of one run."""
        if first < 0 or count < 1 or first + count > self.slots:
            raise ValueError(f"rows {first}..{first + count - 1} are outside a pool of {self.slots} slots")
        if self._bound.get(id(binding)) == (first, count):
            return  # the same rows stay bound until another range is asked for
        shape = [count, *self._row_shape]
        offset = first * self._row_bytes
        for layer, (key, value) in enumerate(self._buffers):
            past_k, past_v, present_k, present_v = kv_names(layer)
            for name_in, name_out, buffer in ((past_k, present_k, key), (past_v, present_v, value)):
                address = buffer.data_ptr() + offset
                binding.bind_input(name_in, self._device, 0, self._dtype, shape, address)
                binding.bind_output(name_out, self._device, 0, self._dtype, shape, address)
        self._bound[id(binding)] = (first, count)
