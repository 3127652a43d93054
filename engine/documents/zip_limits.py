"""Refuse zip bombs before a .docx is parsed.

A 428 KB .docx once inflated to 312 million characters and 1.26 GB of memory. The
central directory says how big each part will be, so the totals and the compression
ratio are checked before anything is inflated; then every part is inflated once,
in pieces, counting bytes, in case the directory lies (and checking ``cancel``).
"""

from __future__ import annotations

import threading
import zipfile
from pathlib import Path

from engine.core.errors import DocumentError
from engine.documents.kinds import megabytes
from engine.documents.model import check_cancel

MAX_INFLATED_BYTES = 200 * 1024 * 1024  # all parts together, images included
# The XML is what python-docx parses into a tree several times its size: capped lower.
MAX_XML_BYTES = 64 * 1024 * 1024
MAX_RATIO = 100  # inflated / compressed, per part; Word's XML compresses about 5-20 times
RATIO_FLOOR = 1024 * 1024  # parts smaller than this may compress as well as they like
MAX_MEMBERS = 10_000
_PIECE = 1024 * 1024


def check_zip(file: Path, cancel: threading.Event | None = None) -> None:
    """Raise ``DocumentError`` if ``file`` would inflate beyond the limits; bad zips are left to the reader."""
    try:
        with zipfile.ZipFile(file) as archive:
            members = archive.infolist()
            if len(members) > MAX_MEMBERS:
                raise _bomb(file.name, f"holds {len(members):,} parts")
            _check_declared(file.name, members)
            _inflate_counting(file.name, archive, members, cancel)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError):
        return  # not a zip Hearth can read: python-docx reports it as damaged


def _check_declared(name: str, members: list[zipfile.ZipInfo]) -> None:
    total = sum(m.file_size for m in members)
    if total > MAX_INFLATED_BYTES:
        raise _bomb(name, f"expands to {megabytes(total)} when unpacked")
    xml = sum(m.file_size for m in members if m.filename.lower().endswith((".xml", ".rels")))
    if xml > MAX_XML_BYTES:
        raise _bomb(name, f"holds {megabytes(xml)} of XML when unpacked",
                    f"Hearth reads up to {megabytes(MAX_XML_BYTES)} of XML in a Word file.")
    for member in members:
        if member.file_size > RATIO_FLOOR and member.file_size > MAX_RATIO * max(1, member.compress_size):
            raise _bomb(
                name,
                f"expands to {megabytes(member.file_size)} when unpacked, from {megabytes(member.compress_size)} "
                f"({member.file_size // max(1, member.compress_size):,} times)",
            )


def _inflate_counting(
    name: str, archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], cancel: threading.Event | None
) -> None:
    """Inflate every part in pieces; stop as soon as any outgrows what the directory declared."""
    total = 0
    for member in members:
        size = 0
        with archive.open(member) as stream:
            while piece := stream.read(_PIECE):
                size += len(piece)
                total += len(piece)
                if size > member.file_size or total > MAX_INFLATED_BYTES:
                    raise _bomb(name, "expands to more than its table of contents says when unpacked")
                check_cancel(cancel, name)


def _bomb(name: str, what: str, limit: str = "") -> DocumentError:
    limit = limit or f"Hearth unpacks Word files up to {megabytes(MAX_INFLATED_BYTES)}."
    return DocumentError(
        f"{name} {what}, which is not a normal Word file (it may be a zip bomb). {limit} "
        "If you trust it, open it in Word and save a new copy."
    )
