"""Server-sent events, decoded the way the official openai client decodes them.

A stream is lines split on CR, LF or CRLF. ``data:`` lines accumulate (several
join with a newline), a blank line dispatches the event, ``:`` starts a comment
(servers send them as keep-alives) and ``event:``, ``id:`` and ``retry:`` set
their fields. A chunk boundary may fall anywhere, even inside a CRLF or a UTF-8
character, so bytes are buffered until a line ends. The caller decides what the
payloads mean (``[DONE]``, error objects); this module only frames them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

_LINE_END = re.compile(rb"\r\n|\r|\n")


@dataclass(frozen=True)
class ServerSentEvent:
    """One dispatched event: its ``data`` lines joined with newlines."""

    data: str = ""
    event: str | None = None
    id: str | None = None
    retry: int | None = None


class _Lines:
    """Split bytes into lines on CR, LF or CRLF, across chunk boundaries."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._skip_lf = False  # the last chunk ended in CR: a LF opening the next one belongs to it

    def feed(self, chunk: bytes) -> Iterator[bytes]:
        start = 0
        for match in _LINE_END.finditer(chunk):
            end = match.start()
            if self._skip_lf and end == start == 0 and chunk[0:1] == b"\n":
                self._skip_lf = False
                start = 1
                continue
            self._skip_lf = False
            self._buffer += chunk[start:end]
            line = bytes(self._buffer)
            self._buffer.clear()
            start = match.end()
            if match.group() == b"\r" and start == len(chunk):
                self._skip_lf = True
            yield line
        if start < len(chunk):
            self._skip_lf = False
            self._buffer += chunk[start:]

    def finish(self) -> Iterator[bytes]:
        if self._buffer:
            line = bytes(self._buffer)
            self._buffer.clear()
            yield line


class SSEDecoder:
    """Turns a byte stream into ``ServerSentEvent`` objects (the WHATWG rules)."""

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self._retry: int | None = None

    def iter_bytes(self, chunks: Iterable[bytes]) -> Iterator[ServerSentEvent]:
        """Every complete event in ``chunks``.

        As in the openai client, an event whose closing blank line never came is
        dropped: a stream cut there may have cut its JSON too.
        """
        lines = _Lines()
        for chunk in chunks:
            for line in lines.feed(chunk):
                if (sse := self.decode(line.decode("utf-8"))) is not None:
                    yield sse
        for line in lines.finish():
            if (sse := self.decode(line.decode("utf-8"))) is not None:
                yield sse

    def decode(self, line: str) -> ServerSentEvent | None:
        """Take one line; return the event a blank line completes, else None."""
        if not line:
            if not self._data and self._event is None and self._retry is None:
                return None
            sse = ServerSentEvent(data="\n".join(self._data), event=self._event, id=self._id, retry=self._retry)
            self._data, self._event, self._retry = [], None, None  # the spec keeps the last id
            return sse
        if line.startswith(":"):
            return None  # a comment
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value or None
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        return None
