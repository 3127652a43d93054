"""Helpers for hostile-input tests: bounded calls and real hostile files."""

from __future__ import annotations

import io
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import docx

T = TypeVar("T")


def bounded(call: Callable[[], T], timeout: float, cancel: threading.Event | None = None) -> tuple[T, float]:
    """Run ``call`` in a thread; fail (rather than hang) if it takes over ``timeout`` seconds.

    Returns the result and the seconds it took; re-raises what ``call`` raised. On a
    timeout ``cancel`` is set, so a call that honours it stops instead of running on.
    """
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["result"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            box["error"] = exc

    start = time.perf_counter()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    elapsed = time.perf_counter() - start
    if thread.is_alive():
        if cancel is not None:
            cancel.set()
        raise AssertionError(f"still running after {timeout:.0f} s")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"], elapsed  # type: ignore[return-value]


def docx_with_body(path: Path, body_xml: str, extra: dict[str, bytes] | None = None) -> Path:
    """A real .docx (made by python-docx) whose document body is replaced by ``body_xml``."""
    buffer = io.BytesIO()
    docx.Document().save(buffer)
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "word/document.xml":
                text = data.decode("utf-8")
                head, _, rest = text.partition("<w:body>")
                data = (head + "<w:body>" + body_xml + "</w:body>" + rest.partition("</w:body>")[2]).encode()
            out.writestr(info.filename, data)
        for name, data in (extra or {}).items():
            out.writestr(name, data)
    return path


def paragraphs_xml(texts: list[str]) -> str:
    return "".join(f"<w:p><w:r><w:t>{t}</w:t></w:r></w:p>" for t in texts)
