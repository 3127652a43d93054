"""Downloading a catalogue entry's files: resumable, checked against the hub's hashes, installed atomically.

``huggingface_hub`` says what the hub holds (each file's size and the sha256 it reports
for large files, the git blob id for small ones) and where each file is. The bytes come
over plain HTTP with ``Range`` requests, so an interrupted download resumes where it
stopped. Files gather in a hidden staging folder beside the destination
(``.<name>.partial``) and only a complete, verified set is renamed into place, so an
interrupted download never shows up as a model.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx

from engine.catalogue.entries import CatalogueEntry, CatalogueError

CHUNK = 1 << 20
TIMEOUT = httpx.Timeout(30.0, read=60.0)
Progress = Callable[[str, int, int], None]  # file name, bytes so far, bytes in all


class DownloadCancelled(CatalogueError):
    """The user cancelled; what was downloaded so far is kept for the next try."""


@dataclass(frozen=True)
class RemoteFile:
    name: str
    size: int
    sha256: str | None  # what the hub reports for a large (LFS) file
    blob_id: str | None  # the git blob id of a small file


def staging_dir(dest: Path) -> Path:
    return dest.parent / f".{dest.name}.partial"


def remote_files(entry: CatalogueEntry, endpoint: str | None = None) -> list[RemoteFile]:
    """The entry's files as the hub lists them now."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    try:
        info = HfApi(endpoint=endpoint).model_info(entry.repo, revision=entry.revision, files_metadata=True)
    except (HfHubHTTPError, httpx.HTTPError, OSError) as exc:
        raise CatalogueError(f"Could not reach the model hub for {entry.repo}: {exc}") from None
    listed = {s.rfilename: s for s in info.siblings or []}
    missing = [entry.remote_name(name) for name in entry.files if entry.remote_name(name) not in listed]
    if missing:
        raise CatalogueError(f"{entry.repo} no longer has {', '.join(missing)}; the catalogue entry is out of date.")
    out = []
    for name in entry.files:
        s = listed[entry.remote_name(name)]
        sha = s.lfs.sha256 if s.lfs is not None else None
        out.append(RemoteFile(name, int(s.lfs.size if s.lfs is not None else s.size or 0), sha, s.blob_id))
    return out


def download(entry: CatalogueEntry, dest: Path, progress: Progress | None = None,
             cancel: threading.Event | None = None, endpoint: str | None = None) -> Path:
    """Fetch the entry's files into ``dest`` (which must not exist yet) and return it.

    Raises:
        DownloadCancelled: ``cancel`` was set; a later call resumes.
        CatalogueError: the hub is unreachable, a file's bytes do not match its hash
            (that file is deleted; nothing is installed), or the disk is full.
    """
    if dest.exists():
        raise CatalogueError(f"{dest} already exists. Remove it or choose another name.")
    files = remote_files(entry, endpoint)
    staging = staging_dir(dest)
    staging.mkdir(parents=True, exist_ok=True)
    total = sum(f.size for f in files)
    done = sum(_present_bytes(staging, f) for f in files)
    with httpx.Client(timeout=TIMEOUT, follow_redirects=True) as client:
        for file in files:
            target = staging / file.name
            if target.is_file():
                continue  # finished and checked by an earlier run
            done = _fetch(client, _url(entry, file, endpoint), file, target, done, total, progress, cancel)
    os.replace(staging, dest)
    return dest


def _fetch(client: httpx.Client, url: str, file: RemoteFile, target: Path, done: int, total: int,
           progress: Progress | None, cancel: threading.Event | None) -> int:
    part = target.with_name(target.name + ".part")
    part.parent.mkdir(parents=True, exist_ok=True)
    offset = part.stat().st_size if part.is_file() else 0
    digest = _hash_of(part) if offset else hashlib.sha256()
    if offset and offset >= file.size:  # all there, stopped before its check: a Range would get a 416
        _verify(part, file, digest)
        os.replace(part, target)
        return done
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        with client.stream("GET", url, headers=headers) as response, part.open("ab") as out:
            if response.status_code not in (200, 206):
                raise CatalogueError(f"The hub answered {response.status_code} for {file.name}.")
            if offset and response.status_code == 200:  # the server ignored the range: start over
                out.truncate(0)
                done, offset, digest = done - offset, 0, hashlib.sha256()
            for chunk in response.iter_bytes(CHUNK):
                if cancel is not None and cancel.is_set():
                    raise DownloadCancelled("Download cancelled; it resumes where it stopped next time.")
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(file.name, done, total)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            part.unlink(missing_ok=True)  # give the space back
            raise CatalogueError(f"The disk is full: {file.name} needs {file.size / 2**20:,.0f} MB. "
                                 "Free some space and download again; nothing was installed.") from None
        raise CatalogueError(f"Could not write {part}: {exc}") from None
    except httpx.HTTPError as exc:
        raise CatalogueError(f"The download of {file.name} was interrupted ({exc}); "
                             "download again to resume it.") from None
    _verify(part, file, digest)
    os.replace(part, target)
    return done


def _verify(part: Path, file: RemoteFile, digest: hashlib._Hash) -> None:
    size = part.stat().st_size
    if file.sha256 is not None:
        ok = size == file.size and digest.hexdigest() == file.sha256
    else:  # a small file: the hub gives its git blob id, sha1 of "blob <size>\0<bytes>"
        blob = hashlib.sha1(f"blob {size}\0".encode())
        blob.update(part.read_bytes())
        ok = file.blob_id is None or blob.hexdigest() == file.blob_id
    if not ok:
        part.unlink(missing_ok=True)
        raise CatalogueError(f"{file.name} does not match the hash the hub reports for it, so it was deleted "
                             "and nothing was installed. Try again; if it happens again, the file on the hub "
                             "or something between you and it is not what it claims.")


def _hash_of(path: Path) -> hashlib._Hash:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest


def _present_bytes(staging: Path, file: RemoteFile) -> int:
    for path in (staging / file.name, staging / (file.name + ".part")):
        if path.is_file():
            return path.stat().st_size
    return 0


def _url(entry: CatalogueEntry, file: RemoteFile, endpoint: str | None) -> str:
    from huggingface_hub import hf_hub_url

    return hf_hub_url(entry.repo, entry.remote_name(file.name), revision=entry.revision, endpoint=endpoint)


def discard(dest: Path) -> None:
    """Forget a partial download of ``dest``."""
    shutil.rmtree(staging_dir(dest), ignore_errors=True)
