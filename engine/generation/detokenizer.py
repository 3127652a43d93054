"""Streaming detokenizing: token ids in, text deltas out, never half a character."""

from __future__ import annotations

from engine.runtime.tokenizer import TextCodec


class StreamingDetokenizer:
    """Turns a growing list of ids into text deltas, never splitting a character.

    Decoding a window of recent tokens and diffing against the previous decode keeps
    the spacing exact (SentencePiece and byte-level BPE both depend on context), and
    holding back text ending in U+FFFD waits for the rest of a multi-byte character.
    """

    def __init__(self, codec: TextCodec, skip_special_tokens: bool = True) -> None:
        self._codec = codec
        self._skip = skip_special_tokens
        self._ids: list[int] = []
        self._prefix = 0  # start of the decode window
        self._read = 0  # ids before this were already emitted

    def add(self, token_id: int) -> str:
        """Add one token; return the new text it completes (may be empty)."""
        self._ids.append(token_id)
        before = self._codec.decode(self._ids[self._prefix : self._read], self._skip)
        after = self._codec.decode(self._ids[self._prefix :], self._skip)
        if after.endswith("\ufffd") or len(after) <= len(before):
            return ""
        self._prefix, self._read = self._read, len(self._ids)
        return after[len(before) :]

    def flush(self) -> str:
        """Whatever is still held back (an incomplete character at the very end)."""
        before = self._codec.decode(self._ids[self._prefix : self._read], self._skip)
        after = self._codec.decode(self._ids[self._prefix :], self._skip)
        self._prefix = self._read = len(self._ids)
        return after[len(before) :] if len(after) > len(before) else ""
