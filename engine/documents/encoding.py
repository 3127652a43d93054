"""Bytes of a text file to ``str``, saying which encoding was used."""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.documents.spans import normalise_newlines
from engine.errors import DocumentError

_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe\x00\x00", "utf-32"),  # before utf-16: its BOM starts the same way
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_SNIFF_CHARS = 1 << 20  # a megabyte of text is plenty to tell text from binary


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str
    note: str = ""


def decode(data: bytes, name: str) -> Decoded:
    """Bytes to text: BOM, then UTF-8, then Windows-1252/Latin-1 if it still looks like text."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return Decoded(normalise_newlines(data.decode(encoding)), encoding)
            except UnicodeDecodeError:
                raise binary_error(name) from None
    if b"\x00" in data:  # UTF-16 without a BOM is rare enough to call binary
        raise binary_error(name)
    encoding = "utf-8"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        # cp1252 is what Windows editors write; Latin-1 decodes anything, so guard it.
        try:
            text, encoding = data.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            text, encoding = data.decode("latin-1"), "latin-1"
    _check_text(text, name)
    return Decoded(normalise_newlines(text), encoding)


def _check_text(text: str, name: str) -> None:
    sample = text[:_SNIFF_CHARS]
    if sample and len(_CONTROL.findall(sample)) / len(sample) > 0.01:
        raise binary_error(name)


def binary_error(name: str) -> DocumentError:
    return DocumentError(
        f"{name} looks like a binary file, not text, even though its name says otherwise. "
        "Check that it is the file you meant to drop."
    )
