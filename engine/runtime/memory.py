"""Shape this process's memory after a model loads (Linux; elsewhere these do nothing).

- ``release_mapped_files``: ONNX Runtime maps a model's external weight file and
  reads all of it while it repacks the weights for its kernels. Afterwards most of
  those mapped pages are never touched again (the embedding, for one, reads a few
  rows per token), yet they stay resident. Dropping them costs nothing: a page
  needed again is mapped back from the page cache.
- ``collapse_to_huge_pages``: decoding reads every repacked weight once per token.
  On 4 KB pages that is tens of thousands of TLB misses per token; on 2 MB pages
  it is a few dozen. A load collapses only the memory it added (``since``), within
  a deadline.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import mmap
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

# MADV_DONTNEED unmaps pages but leaves them in the page cache, so a later read is
# a cheap minor fault. (MADV_PAGEOUT would evict them from the cache as well and
# turn every embedding lookup into a disk read.) It discards private changes, so
# only mappings that were never written to are advised.
_MADV_DONTNEED = 4
# MADV_COLLAPSE (Linux 6.1+) rebuilds a range on huge pages now, whatever the
# system's transparent-huge-page mode, instead of waiting for khugepaged.
_MADV_COLLAPSE = 25
_HUGE_PAGE = 2 << 20


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    return libc


def _clean_mappings(prefix: str) -> list[tuple[int, int]]:
    """Address ranges of this process's unmodified mappings of files under ``prefix``."""
    ranges: list[tuple[int, int]] = []
    current: tuple[int, int] | None = None
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if "-" in fields[0] and len(fields) >= 5 and not fields[0].endswith(":"):
            path = line.split(maxsplit=5)[5] if len(fields) >= 6 else ""
            start, end = (int(x, 16) for x in fields[0].split("-"))
            current = (start, end) if path.startswith(prefix) else None
        elif current is not None and fields[0] == "Private_Dirty:":
            if fields[1] == "0":
                ranges.append(current)
            current = None
    return ranges


def release_mapped_files(folder: Path) -> int:
    """Drop the resident pages of this process's clean mappings of files under ``folder``.

    Returns:
        The number of bytes advised (0 where the platform has no such interface).
    """
    if not sys.platform.startswith("linux"):
        return 0
    try:
        libc = _libc()
        ranges = _clean_mappings(str(Path(folder).resolve()) + "/")
    except OSError:
        return 0
    return sum(end - start for start, end in ranges if libc.madvise(start, end - start, _MADV_DONTNEED) == 0)


def anonymous_ranges() -> list[tuple[int, int]]:
    """This process's writable anonymous memory ranges (heap included); [] off Linux.

    Take it before loading a model and pass it to ``collapse_to_huge_pages`` so
    only memory that appeared during the load is collapsed.
    """
    if not sys.platform.startswith("linux"):
        return []
    ranges = []
    try:
        lines = Path("/proc/self/maps").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        fields = line.split()
        path = fields[5] if len(fields) >= 6 else ""
        if fields[1].startswith("rw") and path in ("", "[heap]"):
            start, end = (int(x, 16) for x in fields[0].split("-"))
            ranges.append((start, end))
    return ranges


def _subtract(ranges: list[tuple[int, int]], old: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of ``ranges`` that no range of ``old`` covers (both sorted, as /proc lists them)."""
    new = []
    for start, end in ranges:
        for old_start, old_end in old:
            if old_end <= start or old_start >= end:
                continue
            if old_start > start:
                new.append((start, old_start))
            start = max(start, old_end)
            if start >= end:
                break
        if start < end:
            new.append((start, end))
    return new


@dataclass
class Collapsed:
    """What ``collapse_to_huge_pages`` did: the 2 MB blocks it moved, merged into ranges."""

    ranges: list[tuple[int, int]] = field(default_factory=list)
    timed_out: bool = False

    @property
    def bytes(self) -> int:
        return sum(end - start for start, end in self.ranges)

    def _add(self, block: int) -> None:
        if self.ranges and self.ranges[-1][1] == block:
            self.ranges[-1] = (self.ranges[-1][0], block + _HUGE_PAGE)
        else:
            self.ranges.append((block, block + _HUGE_PAGE))


def collapse_to_huge_pages(since: list[tuple[int, int]] | None = None, deadline_s: float = 2.0) -> Collapsed:
    """Move fully resident anonymous memory onto 2 MB pages.

    Only 2 MB blocks whose every page is already resident are collapsed, so the
    resident size does not grow: a KV cache that is allocated but not yet
    written stays unbacked.

    Args:
        since: an ``anonymous_ranges()`` snapshot; memory it already held is left
            alone, so a model load collapses its own memory and not the rest of
            the process (collapsing copies every page, and other threads stall
            on the memory being moved). None collapses the whole process.
        deadline_s: stop after this long, whatever is left.

    Returns:
        The ranges now on huge pages (none where the kernel cannot).
    """
    done = Collapsed()
    if not sys.platform.startswith("linux") or mmap.PAGESIZE != 4096:
        return done  # 2 MB huge pages go with 4 KB base pages (x86-64, most arm64)
    try:
        libc = _libc()
    except OSError:
        return done
    ranges = anonymous_ranges()
    if since is not None:
        ranges = _subtract(ranges, sorted(since))
    deadline = time.monotonic() + deadline_s
    residency = ctypes.create_string_buffer(_HUGE_PAGE // mmap.PAGESIZE)
    for start, end in ranges:
        block = (start + _HUGE_PAGE - 1) & ~(_HUGE_PAGE - 1)
        while block + _HUGE_PAGE <= end:
            if time.monotonic() > deadline:
                done.timed_out = True
                return done
            if libc.mincore(block, _HUGE_PAGE, residency) == 0 and all(b & 1 for b in residency.raw):
                if libc.madvise(block, _HUGE_PAGE, _MADV_COLLAPSE) == 0:
                    done._add(block)
                elif ctypes.get_errno() == errno.EINVAL:
                    return done  # a kernel before 6.1, or huge pages switched off
            block += _HUGE_PAGE
    return done
