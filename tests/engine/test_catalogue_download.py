"""Downloads from a hub on 127.0.0.1: complete, resumed after a failure, refused on a bad hash, cancelled, disk full."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import os
import threading
from pathlib import Path

import pytest

from engine.catalogue import download as dl
from engine.catalogue.download import DownloadCancelled, download, staging_dir
from engine.catalogue.entries import CatalogueError, load_catalogue
from tests.helpers.local_hub import LocalHub

REPO = "acme/tiny-onnx"
FILES = {"config.json": b'{"model_type": "llama"}', "onnx/model_q4.onnx": os.urandom(3 * 2**20 + 12345)}


@pytest.fixture
def hub():
    with LocalHub() as hub:
        hub.add(REPO, dict(FILES))
        yield hub


@pytest.fixture
def entry():
    base = load_catalogue()[0]
    return dataclasses.replace(base, id="tiny", repo=REPO, format="onnx", files=tuple(FILES))


def _installed(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_download_completes_and_holds_exactly_the_hub_files(hub, entry, tmp_path):
    seen: list[tuple[str, int, int]] = []
    folder = download(entry, tmp_path / "tiny", lambda *a: seen.append(a), endpoint=hub.url)
    assert _installed(folder) == FILES
    assert not staging_dir(folder).exists()
    assert seen[-1][1] == seen[-1][2] == sum(len(b) for b in FILES.values())


def test_an_interrupted_download_resumes_where_it_stopped(hub, entry, tmp_path):
    hub.cut_after[(REPO, "onnx/model_q4.onnx")] = 2**20 + 7  # the connection drops after ~1 MB
    dest = tmp_path / "tiny"
    with pytest.raises(CatalogueError, match="interrupted"):
        download(entry, dest, endpoint=hub.url)
    assert not dest.exists()  # nothing shows up as a model
    kept = (staging_dir(dest) / "onnx" / "model_q4.onnx.part").stat().st_size
    assert kept >= 2**20
    assert download(entry, dest, endpoint=hub.url) == dest
    assert _installed(dest) == FILES
    assert hub.ranges[-1] == (f"/{REPO}/resolve/main/onnx/model_q4.onnx", f"bytes={kept}-")  # it resumed


def test_bytes_that_do_not_match_the_reported_hash_are_refused(hub, entry, tmp_path):
    hub.reported[(REPO, "onnx/model_q4.onnx")] = hashlib.sha256(b"something else").hexdigest()
    dest = tmp_path / "tiny"
    with pytest.raises(CatalogueError, match="does not match the hash"):
        download(entry, dest, endpoint=hub.url)
    assert not dest.exists()
    assert not (staging_dir(dest) / "onnx" / "model_q4.onnx.part").exists()  # the bad bytes are gone


def test_a_small_file_is_checked_against_its_git_blob_id(hub, entry, tmp_path):
    hub.repos[REPO]["config.json"] = b'{"model_type": "gpt2"}'  # served bytes differ from the listed blob
    listed = hub.sibling
    hub.sibling = lambda repo, name: {**listed(repo, name), **({"blobId": "0" * 40} if name == "config.json" else {})}
    with pytest.raises(CatalogueError, match="config.json does not match"):
        download(entry, tmp_path / "tiny", endpoint=hub.url)


def test_cancel_stops_and_a_later_download_resumes(hub, entry, tmp_path):
    cancel = threading.Event()

    def progress(name: str, done: int, total: int) -> None:
        if done > 2**20:
            cancel.set()

    dest = tmp_path / "tiny"
    with pytest.raises(DownloadCancelled):
        download(entry, dest, progress, cancel, endpoint=hub.url)
    assert not dest.exists()
    kept = (staging_dir(dest) / "onnx" / "model_q4.onnx.part").stat().st_size
    assert 0 < kept < len(FILES["onnx/model_q4.onnx"])
    assert _installed(download(entry, dest, endpoint=hub.url)) == FILES
    assert hub.ranges[-1][1] == f"bytes={kept}-"


def test_a_full_disk_says_so_and_installs_nothing(hub, entry, tmp_path, monkeypatch):
    real_open = Path.open

    def full_disk_open(self, mode="r", *args, **kwargs):
        handle = real_open(self, mode, *args, **kwargs)
        if self.name.endswith(".onnx.part") and "a" in mode:
            def write(_chunk):
                raise OSError(errno.ENOSPC, "No space left on device")
            handle.write = write
        return handle

    monkeypatch.setattr(dl.Path, "open", full_disk_open)
    dest = tmp_path / "tiny"
    with pytest.raises(CatalogueError, match="The disk is full"):
        download(entry, dest, endpoint=hub.url)
    assert not dest.exists()
    assert not (staging_dir(dest) / "onnx" / "model_q4.onnx.part").exists()  # the space is given back


def test_an_unreachable_hub_is_a_clear_error(entry, tmp_path):
    with pytest.raises(CatalogueError, match="Could not reach the model hub"):
        download(entry, tmp_path / "tiny", endpoint="http://127.0.0.1:9")


def test_files_in_a_repository_subfolder_are_installed_flat(hub, entry, tmp_path):
    hub.add("acme/genai", {f"cpu/int4/{name}": data for name, data in FILES.items()})
    nested = dataclasses.replace(entry, repo="acme/genai", subfolder="cpu/int4")
    assert _installed(download(nested, tmp_path / "genai", endpoint=hub.url)) == FILES


def test_a_part_that_is_complete_but_unchecked_is_checked_not_fetched_again(hub, entry, tmp_path):
    dest = tmp_path / "tiny"
    part = staging_dir(dest) / "onnx" / "model_q4.onnx.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(FILES["onnx/model_q4.onnx"])  # killed after the last byte, before the rename
    assert _installed(download(entry, dest, endpoint=hub.url)) == FILES
    assert not any(path.endswith("model_q4.onnx") for path, _ in hub.ranges)  # no request for it at all
