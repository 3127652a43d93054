"""Give back memory the OS can re-read from disk.

ONNX Runtime maps a model's external weight file and reads all of it while it
repacks the weights for its kernels. Afterwards most of those mapped pages are
never touched again (the embedding, for one, reads a few rows per token), yet they
stay resident. Asking the kernel to page them out costs nothing: any page that is
needed again is read back from the page cache.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from pathlib import Path

_MADV_PAGEOUT = 21  # Linux 5.4+; only clean file pages are dropped, so it is always safe


def release_mapped_files(folder: Path) -> int:
    """Page out this process's mappings of files under ``folder``; return bytes advised."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        maps = Path("/proc/self/maps").read_text().splitlines()
    except OSError:
        return 0
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    prefix = str(Path(folder).resolve()) + "/"
    advised = 0
    for line in maps:
        fields = line.split(maxsplit=5)
        if len(fields) < 6 or not fields[5].startswith(prefix):
            continue
        start, end = (int(x, 16) for x in fields[0].split("-"))
        if libc.madvise(start, end - start, _MADV_PAGEOUT) == 0:
            advised += end - start
    return advised
