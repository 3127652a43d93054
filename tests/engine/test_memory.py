"""Huge pages after load: resident memory moves onto 2 MB pages, untouched memory stays unbacked."""

from __future__ import annotations

import ctypes
import json
import mmap
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from engine.runtime import memory
from engine.runtime.memory import collapse_to_huge_pages


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
        "from engine.core.events import LoadOptions\n"
        "from engine.runtime.model import load_model\n"
        "model = load_model(sys.argv[1], LoadOptions(threads=2, context_length=256))\n"
        "print(next(l.split()[1] for l in open('/proc/self/smaps_rollup') if l.startswith('AnonHugePages:')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(default_model_dir)],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[2], check=True,
    )
    # The default model's repacked weights are about 80 MB.
    assert int(out.stdout.split()[-1]) * 1024 >= 48 * MB


def _address(buffer: mmap.mmap) -> tuple[int, int]:
    start = ctypes.addressof(ctypes.c_char.from_buffer(buffer))
    return start, start + len(buffer)


def _overlap(ranges: list, span: tuple[int, int]) -> int:
    return sum(max(0, min(end, span[1]) - max(start, span[0])) for start, end in ranges)


def test_collapsing_since_a_snapshot_leaves_older_memory_alone():
    older = _private_anonymous(16 * MB)
    older.write(b"\x01" * len(older))
    snapshot = memory.anonymous_ranges()
    newer = _private_anonymous(16 * MB)
    newer.write(b"\x02" * len(newer))

    done = collapse_to_huge_pages(since=snapshot)

    assert _overlap(done.ranges, _address(older)) == 0
    assert _overlap(done.ranges, _address(newer)) >= 14 * MB
    assert older[:1] == b"\x01" and newer[-1:] == b"\x02"
    del snapshot
    older.close()
    newer.close()


def test_collapsing_stops_at_its_deadline():
    snapshot = memory.anonymous_ranges()
    written = _private_anonymous(16 * MB)
    written.write(b"\x01" * len(written))
    done = collapse_to_huge_pages(since=snapshot, deadline_s=0.0)
    assert done.timed_out and done.ranges == []
    written.close()


_LOAD_BESIDE_A_BUFFER = """
import ctypes, json, mmap, sys
from engine.core.events import LoadOptions
from engine.runtime.model import load_model

# 16 MB of unrelated, written memory, fenced by two inaccessible pages so the
# kernel keeps it a mapping of its own (its smaps entry then describes it alone).
page, size = mmap.PAGESIZE, 16 << 20
other = mmap.mmap(-1, size + 2 * page, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
base = ctypes.addressof(ctypes.c_char.from_buffer(other))
libc = ctypes.CDLL(None)
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
assert libc.mprotect(base, page, 0) == 0 and libc.mprotect(base + page + size, page, 0) == 0
other[page : page + size] = b"\\x01" * size
start = base + page

model = load_model(sys.argv[1], LoadOptions(threads=2, context_length=256))
huge, inside = None, False
for line in open("/proc/self/smaps"):
    head = line.split()[0]
    if "-" in head and not head.endswith(":"):
        low, high = (int(x, 16) for x in head.split("-"))
        inside = low <= start < high
    elif inside and head == "AnonHugePages:":
        huge = int(line.split()[1]) * 1024
report = getattr(model, "huge_pages", None)
print(json.dumps({"other": [start, start + size], "other_huge": huge,
                  "collapsed": report.ranges if report is not None else None}))
"""


def test_loading_a_model_collapses_its_own_memory_and_nothing_older(default_model_dir):
    out = subprocess.run(
        [sys.executable, "-c", _LOAD_BESIDE_A_BUFFER, str(default_model_dir)],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[2], check=True,
    )
    report = json.loads(out.stdout.splitlines()[-1])
    thp_always = "[always]" in Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    if not thp_always:  # with THP "always" the kernel may back the buffer with huge pages itself
        assert report["other_huge"] == 0, "the load moved unrelated memory onto huge pages"
    assert report["collapsed"] is not None, "the load does not report what it collapsed"
    assert _overlap(report["collapsed"], tuple(report["other"])) == 0
    # The default model's repacked weights are about 80 MB.
    assert sum(end - start for start, end in report["collapsed"]) >= 48 * MB
