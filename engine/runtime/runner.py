"""Drive one decoder session: its KV slots, the ids behind each, and the runs that feed them.

Two kinds of run, because ONNX Runtime's CPU GroupQueryAttention accepts a ragged
batch of one-token rows but not several tokens per row next to a past:

- ``forward`` / ``forward_positions``: one sequence at batch 1, bound to its own
  slot's row, any number of new tokens (prefill chunks, or one decode step).
- ``decode_tick``: one new token for each of several slots, in one session run.

Between two decode steps only a few microseconds of Python should run: right after
a step the CPU caches are cold and every touch is slow. So the one-token input and
the outputs live in numpy buffers that ONNX Runtime reads and writes in place,
bound once; nothing is copied per token.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnxruntime as ort

from engine.core.errors import ContextOverflowError, UnsupportedModelError
from engine.runtime.graph import ARGMAX_OUTPUT, POSITIONS_INPUT, GraphSpec
from engine.runtime.kv_cache import ConcatKVCache
from engine.runtime.kv_pool import KVPool


class DecoderRunner:
    """Feeds tokens to the graph and returns logits, keeping a KV cache per slot.

    Each slot remembers which token ids its cache holds (``slot_ids``), so callers
    can keep the longest common prefix of a new request and feed only the rest.
    Slot 0 is the single-sequence API (``ids``, ``forward``, ``trim``) the chat uses.
    """

    def __init__(
        self, session: ort.InferenceSession, spec: GraphSpec, context_length: int, device: str, slots: int = 1
    ) -> None:
        self.session = session
        self.spec = spec
        self.context_length = context_length
        # Concat graphs grow a past of their own shape per sequence: they cannot batch.
        self.slots = slots if spec.shares_kv_buffer else 1
        self.slot_ids: list[list[int]] = [[] for _ in range(self.slots)]
        self.last_argmax: int | None = None
        self._pool = KVPool(spec, self.slots, context_length, device) if spec.shares_kv_buffer else None
        self._concat = None if spec.shares_kv_buffer else ConcatKVCache(spec, device)
        self._single = session.io_binding()  # batch-1 runs
        self._tick = session.io_binding()  # decode ticks over rows 0..n-1
        self._tick_rows = 0
        self._mask = np.ones((1, context_length), dtype=np.int64)
        self._step = np.zeros((1, 1), dtype=np.int64)
        self._step_value = ort.OrtValue.ortvalue_from_numpy(self._step)
        self._step_bound = False
        self._keep: list[np.ndarray] = []  # inputs the binding points into until the next run
        self._positions = np.ones(1, dtype=np.int64)
        if spec.positions_input:
            for binding in (self._single, self._tick):
                binding.bind_ortvalue_input(POSITIONS_INPUT, ort.OrtValue.ortvalue_from_numpy(self._positions))
        logits_meta = {o.name: o for o in session.get_outputs()}["logits"]
        self._vocab = logits_meta.shape[-1] if isinstance(logits_meta.shape[-1], int) else 0
        self._dtype = np.float16 if "float16" in logits_meta.type else np.float32
        self._has_argmax = any(o.name == ARGMAX_OUTPUT for o in session.get_outputs())
        # Preallocated one-position outputs: [slots, 1, vocab] logits and [slots, 1] argmax.
        self._fixed_outputs = spec.logits_last_only and self._vocab > 0
        self._logits = np.empty((self.slots, 1, max(1, self._vocab)), dtype=self._dtype)
        self._argmax = np.zeros((self.slots, 1), dtype=np.int64)
        self.tick_argmax = self._argmax[:, 0]  # per slot, after a decode tick
        self._bind_fixed_outputs(self._single, 1)

    # -- slot 0: the single-sequence API --------------------------------------------------
    @property
    def ids(self) -> list[int]:
        return self.slot_ids[0]

    @property
    def has_argmax(self) -> bool:
        """Whether runs also return each row's argmax (``last_argmax``, ``tick_argmax``)."""
        return self._has_argmax

    @property
    def cached_tokens(self) -> int:
        return len(self.slot_ids[0])

    def common_prefix(self, ids: Sequence[int], slot: int = 0) -> int:
        """How many leading ids of ``ids`` the slot's cache already holds."""
        n = 0
        for cached, new in zip(self.slot_ids[slot], ids):
            if cached != new:
                break
            n += 1
        return n

    def trim(self, keep: int, slot: int = 0) -> None:
        """Forget everything in ``slot`` after its first ``keep`` tokens.

        Positions past ``keep`` are simply overwritten by the slot's next run.
        """
        held = self.slot_ids[slot]
        keep = max(0, min(keep, len(held)))
        del held[keep:]
        if self._concat is not None:
            self._concat.trim(keep)

    def reset(self, slot: int = 0) -> None:
        self.trim(0, slot)

    # -- runs -----------------------------------------------------------------------------
    def forward(self, new_ids: Sequence[int], slot: int = 0) -> np.ndarray:
        """Append ``new_ids`` to ``slot`` and return the last position's logits ([vocab]).

        The array is a view that the next call overwrites; copy it to keep it.
        ``last_argmax`` holds its argmax when the graph computes one.
        """
        return self._run_single(new_ids, slot, 1)[-1]

    def forward_positions(self, new_ids: Sequence[int], positions: int, slot: int = 0) -> np.ndarray:
        """Append ``new_ids`` and return the logits of the last ``positions`` of them ([positions, vocab]).

        For verifying drafted tokens and scoring text. A fresh array, not a view.
        """
        if not 1 <= positions <= len(new_ids):
            raise ValueError(f"positions must be between 1 and {len(new_ids)}, got {positions}")
        if positions > 1 and self.spec.logits_last_only and not self.spec.positions_input:
            raise UnsupportedModelError("This graph returns logits for the last position only.")
        return np.array(self._run_single(new_ids, slot, positions), dtype=np.float32)

    def decode_tick(self, slots: Sequence[int], tokens: Sequence[int]) -> np.ndarray:
        """Append one token to each of ``slots`` in one session run; logits by slot ([max(slots)+1, vocab]).

        Rows 0..max(slots) run together, and row ``s`` of the result is slot ``s``'s
        logits; an idle row in between gets a throwaway token written past its own ids,
        so its cache stays as it was (its row is meaningless). ``tick_argmax[slot]``
        holds each row's argmax when the graph computes one. The logits are a view
        that the next tick overwrites: no vocabulary-wide copy per tick.
        """
        if self._pool is None or not self._fixed_outputs:
            raise UnsupportedModelError("This graph cannot decode several sequences in one batch.")
        if len(slots) != len(tokens) or not slots or len(set(slots)) != len(slots):
            raise ValueError("decode_tick needs one token for each of distinct slots")
        rows = max(slots) + 1
        lengths = [len(held) for held in self.slot_ids[:rows]]
        fed = dict(zip(slots, tokens))
        for slot in slots:
            self._check_room(slot, 1)
        # An idle row writes at its own length; a full idle row gives up its last position.
        for row in range(rows):
            if row not in fed and lengths[row] >= self.context_length:
                self.trim(lengths[row] - 1, row)
                lengths[row] -= 1
        input_ids = np.array([[fed.get(row, 0)] for row in range(rows)], dtype=np.int64)
        mask = np.zeros((rows, max(lengths) + 1), dtype=np.int64)
        for row, length in enumerate(lengths):
            mask[row, : length + 1] = 1
        binding = self._tick
        binding.bind_cpu_input("input_ids", input_ids)
        binding.bind_cpu_input("attention_mask", mask)
        self._keep = [input_ids, mask]
        if self._tick_rows != rows:
            self._bind_fixed_outputs(binding, rows)
            self._tick_rows = rows
        self._pool.bind_rows(binding, 0, rows)
        self.session.run_with_iobinding(binding)
        for slot in slots:
            self.slot_ids[slot].append(fed[slot])
        logits = self._logits[:rows, 0]
        return logits if logits.dtype == np.float32 else logits.astype(np.float32)

    # -- internals ------------------------------------------------------------------------
    def _check_room(self, slot: int, new_tokens: int) -> None:
        total = len(self.slot_ids[slot]) + new_tokens
        if total > self.context_length:
            raise ContextOverflowError(
                f"The conversation needs {total} tokens but the context holds {self.context_length}. "
                "Raise the context length in settings or start a new chat."
            )

    def _run_single(self, new_ids: Sequence[int], slot: int, positions: int) -> np.ndarray:
        """One batch-1 run into ``slot``; the logits of its last ``positions`` ([positions, vocab])."""
        if not new_ids:
            raise ValueError("forward() needs at least one token")
        if not 0 <= slot < self.slots:
            raise ValueError(f"slot {slot} is outside 0..{self.slots - 1}")
        self._check_room(slot, len(new_ids))
        past = len(self.slot_ids[slot])
        binding = self._single
        self._bind_inputs(new_ids, past, past + len(new_ids))
        fixed = self._fixed_outputs and positions == 1
        if self._fixed_outputs and not fixed:
            # Several positions: outputs of that shape for this run, then back to one.
            self._positions[0] = positions
            logits_out = np.empty((1, positions, self._vocab), dtype=self._dtype)
            argmax_out = np.zeros((1, positions), dtype=np.int64)
            binding.bind_ortvalue_output("logits", ort.OrtValue.ortvalue_from_numpy(logits_out))
            if self._has_argmax:
                binding.bind_ortvalue_output(ARGMAX_OUTPUT, ort.OrtValue.ortvalue_from_numpy(argmax_out))
        if not self._fixed_outputs:
            binding.bind_output("logits", "cpu")  # its shape changes with each run
        if self._pool is not None:
            self._pool.bind_rows(binding, slot, 1)
        else:
            assert self._concat is not None
            self._concat.bind(binding)
        self.session.run_with_iobinding(binding)
        if self._concat is not None:
            self._concat.advance(binding, len(new_ids))
        self.slot_ids[slot].extend(new_ids)
        if fixed:
            self.last_argmax = int(self._argmax[0, 0]) if self._has_argmax else None
            logits = self._logits[0]
        elif self._fixed_outputs:
            self.last_argmax = int(argmax_out[0, -1]) if self._has_argmax else None
            logits = logits_out[0]
            self._positions[0] = 1
            self._bind_fixed_outputs(binding, 1)
        else:
            # Whole-sequence logits, allocated by ORT; bound first, so they come first.
            self.last_argmax = None
            logits = binding.get_outputs()[0].numpy()[0, -positions:]
        return logits if logits.dtype == np.float32 else logits.astype(np.float32)

    def _bind_fixed_outputs(self, binding: ort.IOBinding, rows: int) -> None:
        if not self._fixed_outputs:
            binding.bind_output("logits", "cpu")
            return
        binding.bind_ortvalue_output("logits", ort.OrtValue.ortvalue_from_numpy(self._logits[:rows]))
        if self._has_argmax:
            binding.bind_ortvalue_output(ARGMAX_OUTPUT, ort.OrtValue.ortvalue_from_numpy(self._argmax[:rows]))

    def _bind_inputs(self, new_ids: Sequence[int], past: int, total: int) -> None:
        binding = self._single
        keep: list[np.ndarray] = []
        if len(new_ids) == 1:
            self._step[0, 0] = new_ids[0]
            if not self._step_bound:
                binding.bind_ortvalue_input("input_ids", self._step_value)
                self._step_bound = True
        else:
            input_ids = np.asarray(new_ids, dtype=np.int64).reshape(1, -1)
            binding.bind_cpu_input("input_ids", input_ids)
            keep.append(input_ids)
            self._step_bound = False
        if self.spec.has_attention_mask:
            binding.bind_cpu_input("attention_mask", self._mask[:, :total])
        if self.spec.has_position_ids:
            positions = np.arange(past, total, dtype=np.int64).reshape(1, -1)
            binding.bind_cpu_input("position_ids", positions)
            keep.append(positions)
        self._keep = keep  # replaced, never grown: one step's inputs at a time
