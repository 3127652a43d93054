"""Bytes of a text file to ``str``, saying which encoding was used and whether it was guessed.

Order: a byte-order mark; strict UTF-8; UTF-8 with a few stray bytes (replaced, and
said so); a multi-byte encoding (GBK, Shift-JIS, Big5, EUC-KR...) when charset-normalizer
finds one; else Windows-1252, then Latin-1. charset-normalizer's single-byte guesses
are shaky on short Western text, so those fall back to Windows-1252 as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.core.errors import DocumentError
from engine.documents.spans import normalise_newlines

_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe\x00\x00", "utf-32"),  # before utf-16: its BOM starts the same way
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_SNIFF_CHARS = 1 << 20  # a megabyte of text is plenty to tell text from binary
_GUESS_BYTES = 256 * 1024  # what charset-normalizer looks at; it is slow on whole files
# Encodings whose byte patterns are distinctive enough to trust charset-normalizer on.
_MULTIBYTE = {
    "gb18030", "gbk", "gb2312", "hz", "big5", "big5hkscs", "cp950", "cp932", "shift_jis", "shift_jis_2004",
    "shift_jisx0213", "euc_jp", "euc_jis_2004", "euc_jisx0213", "iso2022_jp", "euc_kr", "cp949", "johab",
    "iso2022_kr",
}  # fmt: skip
_LABELS = {"cp1252": "Windows-1252", "latin-1": "Latin-1", "cp932": "Shift-JIS (cp932)", "gb18030": "GB18030 (GBK)"}


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str  # Python codec name
    note: str = ""  # for the user: how it was read when that was a guess


def decode(data: bytes, name: str) -> Decoded:
    """Bytes to text; raises ``DocumentError`` for data that is not text."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return Decoded(normalise_newlines(data.decode(encoding)), encoding)
            except UnicodeDecodeError:
                raise binary_error(name) from None
    if b"\x00" in data:  # UTF-16 without a BOM is rare enough to call binary
        raise binary_error(name)
    try:
        return Decoded(normalise_newlines(_checked(data.decode("utf-8"), name)), "utf-8")
    except UnicodeDecodeError:
        pass
    decoded = _utf8_with_stray_bytes(data) or _multibyte_guess(data) or _western(data)
    return Decoded(normalise_newlines(_checked(decoded.text, name)), decoded.encoding, decoded.note)


def _utf8_with_stray_bytes(data: bytes) -> Decoded | None:
    """UTF-8 with a few bad bytes: real UTF-8 sequences far outnumber the bad ones."""
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd") - data.count(b"\xef\xbf\xbd")  # minus U+FFFD that were really there
    good = len(text) - len(text.encode("ascii", errors="ignore")) - text.count("\ufffd")  # non-ASCII, in C
    if bad <= 0 or good < 20 * bad:
        return None
    what = "1 byte that is not valid UTF-8 was" if bad == 1 else f"{bad:,} bytes that are not valid UTF-8 were"
    note = f"Read as UTF-8; {what} replaced with \ufffd."
    return Decoded(text, "utf-8", note)


def _multibyte_guess(data: bytes) -> Decoded | None:
    from charset_normalizer import from_bytes  # deferred: most files are UTF-8

    sample = data[:_GUESS_BYTES]
    if len(data) > _GUESS_BYTES and (cut := sample.rfind(b"\n")) > 0:
        sample = sample[:cut]  # end on a line, not in the middle of a two-byte character
    best = from_bytes(sample).best()
    if best is None or best.encoding not in _MULTIBYTE:
        return None
    try:
        text = data.decode(best.encoding)
    except UnicodeDecodeError:  # the sample was clean but the rest is not (or was cut mid-character)
        text = data.decode(best.encoding, errors="replace")
    label = _LABELS.get(best.encoding, best.encoding.upper().replace("_", "-"))
    return Decoded(text, best.encoding, _guessed_note(label))


def _western(data: bytes) -> Decoded:
    # cp1252 is what Windows editors write; Latin-1 decodes anything (guarded by _checked).
    try:
        return Decoded(data.decode("cp1252"), "cp1252", _guessed_note(_LABELS["cp1252"]))
    except UnicodeDecodeError:
        return Decoded(data.decode("latin-1"), "latin-1", _guessed_note(_LABELS["latin-1"]))


def _guessed_note(label: str) -> str:
    return (
        f"Read as {label}: the file is not UTF-8, so Hearth guessed its encoding. "
        "If the text looks wrong, save the file as UTF-8 and attach it again."
    )


def _checked(text: str, name: str) -> str:
    sample = text[:_SNIFF_CHARS]
    if sample and len(_CONTROL.findall(sample)) / len(sample) > 0.01:
        raise binary_error(name)
    return text


def binary_error(name: str) -> DocumentError:
    return DocumentError(
        f"{name} looks like a binary file, not text, even though its name says otherwise. "
        "Check that it is the file you meant to drop."
    )
