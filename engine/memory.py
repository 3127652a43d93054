"""Give back memory the OS can re-read from disk.

ONNX Runtime maps a model's external weight file and reads all of it while it
repacks the weights for its kernels. Afterwards most of those mapped pages are
never touched again (the embedding, for one, reads a few rows per token), yet they
stay resident. Dropping them costs nothing: a page needed again is mapped back
from the page cache.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from pathlib import Path

# MADV_DONTNEED unmaps pages but leaves them in the page cache, so a later read is
# a cheap minor fault. (MADV_PAGEOUT would evict them from the cache as well and
# turn every embedding lookup into a disk read.) It discards private changes, so
# only mappings that were never written to are advised.
_MADV_DONTNEED = 4


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
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        ranges = _clean_mappings(str(Path(folder).resolve()) + "/")
    except OSError:
        return 0
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return sum(end - start for start, end in ranges if libc.madvise(start, end - start, _MADV_DONTNEED) == 0)
