"""A damaged download cache heals itself; a full disk gives a message, not a traceback.

pip runs for real, against a local find-links folder holding the genuine wheel
(copied from the test home's cache), so no test downloads 90 MB from PyPI.
"""

from __future__ import annotations

import errno
import hashlib
import shutil
import zipfile
from pathlib import Path

import pytest

from engine.convert import default_model
from engine.core.errors import ConversionError

SHARED_DOWNLOADS = Path(__file__).resolve().parents[2] / ".hearth-dev" / "test-home" / "cache" / "downloads"
GGUF_NAME = Path(default_model.GGUF_MEMBER).name
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"  # RECORD's, in hex
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"  # as PyPI lists it


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def genuine_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wheel = SHARED_DOWNLOADS / default_model.WHEEL_FILE
    if not wheel.is_file():
        pytest.skip("the default model's wheel is not in the test home's download cache yet")
    index = tmp_path_factory.mktemp("index")
    shutil.copy2(wheel, index / wheel.name)
    assert _sha256(index / wheel.name) == WHEEL_SHA256
    return index / wheel.name


@pytest.fixture
def downloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, genuine_wheel: Path) -> Path:
    """An empty HEARTH_HOME whose pip finds the wheel only in the local folder."""
    monkeypatch.setenv("HEARTH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(genuine_wheel.parent))
    folder = tmp_path / "home" / "cache" / "downloads"
    folder.mkdir(parents=True)
    return folder


def _truncated_copy(src: Path, dst: Path) -> None:
    with open(src, "rb") as fh:
        dst.write_bytes(fh.read(src.stat().st_size // 3))


def test_truncated_wheel_is_downloaded_again(downloads: Path, genuine_wheel: Path) -> None:
    _truncated_copy(genuine_wheel, downloads / genuine_wheel.name)
    lines: list[str] = []
    gguf = default_model._fetch_gguf(lines.append)
    assert _sha256(downloads / genuine_wheel.name) == WHEEL_SHA256
    assert _sha256(gguf) == GGUF_SHA256
    assert any("damaged" in line for line in lines), lines


def test_truncated_gguf_is_extracted_again(downloads: Path, genuine_wheel: Path) -> None:
    shutil.copy2(genuine_wheel, downloads / genuine_wheel.name)
    with zipfile.ZipFile(genuine_wheel) as zf:
        data = zf.read(default_model.GGUF_MEMBER)
    (downloads / GGUF_NAME).write_bytes(data[: len(data) // 2])
    gguf = default_model._fetch_gguf(lambda line: None)
    assert gguf == downloads / GGUF_NAME
    assert _sha256(gguf) == GGUF_SHA256


def test_full_disk_while_extracting_is_a_clear_error(downloads: Path, genuine_wheel: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.convert import wheel_cache

    shutil.copy2(genuine_wheel, downloads / genuine_wheel.name)

    def full_disk(src, dst, digest) -> None:
        dst.write(src.read(1 << 20))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(wheel_cache, "_copy_stream", full_disk)
    with pytest.raises(ConversionError, match="disk is full") as caught:
        default_model._fetch_gguf(lambda line: None)
    assert "Free some space" in str(caught.value)
    assert sorted(p.name for p in downloads.iterdir()) == [genuine_wheel.name]  # no half-written GGUF

