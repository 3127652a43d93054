"""How Hearth starts a child Python: isolated, in a folder it controls, tied to its parent.

Every ``python -m ...`` child (converter steps, pip, the app's ``hearth-cli`` jobs)
goes through here, so three rules hold everywhere:

* ``-I`` (isolated mode): the child's ``sys.path`` holds neither the working
  directory nor ``PYTHONPATH`` nor user site-packages, so a ``torch.py`` lying in a
  checkpoint folder or in the user's current folder is never imported. ``engine``
  therefore resolves through the installed package (``pip install -e .`` counts).
* ``cwd`` is a folder Hearth chose (a staging or cache folder), never inherited.
* On Linux the child gets SIGTERM when its parent dies, even by ``kill -9``, so no
  builder outlives the process that wanted it (a no-op elsewhere).
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

_PR_SET_PDEATHSIG = 1


def python_module(module: str, *args: str) -> list[str]:
    """The argv that runs ``python -m module args`` isolated and unbuffered.

    ``-u`` replaces ``PYTHONUNBUFFERED``, which ``-I`` ignores: logs and progress
    lines must reach the parent as they are written.
    """
    return [sys.executable, "-I", "-u", "-m", module, *args]


def python_script(path: Path, *args: str) -> list[str]:
    """The argv that runs the file ``path`` isolated and unbuffered (its folder is not put on sys.path)."""
    return [sys.executable, "-I", "-u", str(path), *args]


def popen(cmd: list[str], *, cwd: str | Path, **kwargs: Any) -> subprocess.Popen:  # type: ignore[type-arg]
    """``subprocess.Popen`` in ``cwd``, killed (SIGTERM) when this process dies."""
    return subprocess.Popen(cmd, cwd=str(cwd), **_tie_to_parent(kwargs))


def run(cmd: list[str], *, cwd: str | Path, **kwargs: Any) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    """``subprocess.run`` with the same rules as :func:`popen`."""
    return subprocess.run(cmd, cwd=str(cwd), **_tie_to_parent(kwargs))


def pid_alive(pid: int) -> bool:
    """True if a process with this id exists (a zombie counts as alive)."""
    if pid <= 0:
        return False
    if os.name == "nt":
        return _pid_alive_windows(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


# -- internals ------------------------------------------------------------------------
def _tie_to_parent(kwargs: dict[str, Any]) -> dict[str, Any]:
    hook = _pdeathsig_hook()
    if hook is None or "preexec_fn" in kwargs:
        return kwargs
    return {**kwargs, "preexec_fn": hook}


def _pdeathsig_hook() -> Callable[[], None] | None:
    """A preexec_fn that asks Linux to SIGTERM the child when the parent dies.

    Linux sends it when the forking *thread* ends; Hearth's callers wait on their
    children from the thread that started them, so that is the parent's life.
    """
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()  # resolved before fork: the hook itself does as little as possible

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        # The parent may have died between fork and prctl: then nobody will signal us.
        if os.getppid() != parent:
            os._exit(1)

    return hook


@functools.cache
def _prctl() -> Callable[..., int] | None:
    """libc's prctl, looked up once in this process's own symbols.

    Not ``ctypes.util.find_library``: that spawns ldconfig and a compiler on every call.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _pid_alive_windows(pid: int) -> bool:
    # os.kill(pid, 0) would terminate the process on Windows; ask the kernel instead.
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return ctypes.get_last_error() == 5  # access denied: it exists
    try:
        code = ctypes.c_ulong()
        ok = kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        return bool(ok) and code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)
