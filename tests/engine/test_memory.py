"""Huge pages after load: resident memory moves onto 2 MB pages, untouched memory stays unbacked."""

from __future__ import annotations

import mmap
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from engine.memory import collapse_to_huge_pages


def _kernel_has_madv_collapse() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    major, minor = (int(part) for part in platform.release().split(".")[:2])
    return (major, minor) >= (6, 1)


pytestmark = pytest.mark.skipif(not _kernel_has_madv_collapse(), reason="MADV_COLLAPSE needs Linux 6.1 or later")

MB = 1 << 20


def _rollup(field: str) -> int:
    for line in open("/proc/self/smaps_rollup"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"{field} missing from smaps_rollup")


def _private_anonymous(size: int) -> mmap.mmap:
    return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)


def test_resident_memory_moves_to_huge_pages_and_untouched_memory_stays_unbacked():
    written = _private_anonymous(16 * MB)
    written.write(b"\x01" * len(written))
    untouched = _private_anonymous(64 * MB)
    huge_before, rss_before = _rollup("AnonHugePages"), _rollup("Rss")

    collapse_to_huge_pages()

    # 16 MB at any alignment holds at least seven whole 2 MB blocks.
    assert _rollup("AnonHugePages") - huge_before >= 14 * MB
    assert _rollup("Rss") - rss_before < 4 * MB  # the 64 MB mapping was not faulted in
    assert written[:4] == b"\x01" * 4 and written[-1:] == b"\x01"
    written.close()
    untouched.close()


def test_loading_a_model_puts_its_weights_on_huge_pages(default_model_dir):
    # A fresh process: this one has loaded and freed other models, whose memory
    # (already on huge pages) the new weights may reuse.
    script = (
        "import sys\n"
        "from engine.events import LoadOptions\n"
        "from engine.model import load_model\n"
        "model = load_model(sys.argv[1], LoadOptions(threads=2, context_length=256))\n"
        "print(next(l.split()[1] for l in open('/proc/self/smaps_rollup') if l.startswith('AnonHugePages:')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(default_model_dir)],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[2], check=True,
    )
    # The default model's repacked weights are about 80 MB.
    assert int(out.stdout.split()[-1]) * 1024 >= 48 * MB
