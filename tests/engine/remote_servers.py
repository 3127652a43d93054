"""Real OpenAI-compatible servers for the remote-backend tests, on 127.0.0.1.

llama-cpp-python's server is one nobody here wrote. It lives in its own venv
(it pins its own numpy and fastapi), found or made in this order:
1. ``HEARTH_LLAMA_PYTHON``: a Python that has ``llama-cpp-python[server]``.
2. ``<repo>/.hearth-dev/llama-venv``, created on first use: pip installs
   ``llama-cpp-python[server]==0.3.36`` from ``~/.cache/hearth-wheels`` (outside the
   checkout, so a clean clone on the same machine reuses it; plus any folder in
   ``HEARTH_WHEEL_DIR``). When no wheel is there, ``pip wheel`` builds one from the
   sdist into that cache first (cmake and a C++ compiler; about ten minutes on two cores).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.engine.serve_process import free_port

REPO = Path(__file__).resolve().parents[2]
LLAMA_VERSION = "0.3.36"
VENV = REPO / ".hearth-dev" / "llama-venv"
WHEELS = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hearth-wheels"

# A GGML_NATIVE build picks AMX on this kind of VM, whose first tile instruction dies
# with SIGILL: start the server with extra buffer types off (as bench/serve.py does).
LAUNCHER = (
    "import runpy, llama_cpp.llama_cpp as lib\n"
    "defaults = lib.llama_model_default_params\n"
    "def no_extra():\n    p = defaults(); p.use_extra_bufts = False; return p\n"
    "lib.llama_model_default_params = no_extra\n"
    "runpy.run_module('llama_cpp.server', run_name='__main__', alter_sys=True)\n"
)


def _works(python: Path) -> bool:
    return python.is_file() and subprocess.run([str(python), "-c", "import llama_cpp.server"],
                                               capture_output=True, timeout=120).returncode == 0


def _pip(python: Path, *args: str, timeout: int) -> None:
    links = [str(WHEELS)] + [d for d in os.environ.get("HEARTH_WHEEL_DIR", "").split(os.pathsep) if d]
    cmd = [str(python), "-m", "pip", "--disable-pip-version-check", *args]
    for link in links:
        cmd += ["--find-links", link]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{(result.stderr or result.stdout)[-3000:]}")


def llama_python() -> Path:
    """A Python with llama-cpp-python's server, made on first use (see the module docstring)."""
    given = os.environ.get("HEARTH_LLAMA_PYTHON")
    if given:
        return Path(given)
    python = VENV / "bin" / "python"
    if _works(python):
        return python
    WHEELS.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True, timeout=300)
    # The wheel first (a build from the sdist when none is cached), then the server's dependencies.
    _pip(python, "wheel", "--no-deps", "--wheel-dir", str(WHEELS), f"llama-cpp-python=={LLAMA_VERSION}",
         timeout=3600)
    _pip(python, "install", "--only-binary=llama-cpp-python", f"llama-cpp-python[server]=={LLAMA_VERSION}",
         timeout=1800)
    if not _works(python):
        raise RuntimeError(f"{python} cannot import llama_cpp.server after the install")
    return python


@contextmanager
def llama_server(python: Path, gguf: Path, log: Path) -> Iterator[str]:
    """Start ``llama_cpp.server`` on ``gguf``; yields its base URL (``.../v1``)."""
    port = free_port()
    with open(log, "w") as out:
        proc = subprocess.Popen([str(python), "-c", LAUNCHER, "--model", str(gguf), "--host", "127.0.0.1",
                                 "--port", str(port), "--n_threads", "2", "--n_threads_batch", "2",
                                 "--n_ctx", "2048", "--verbose", "false"], stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{base}/models", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("llama_cpp.server did not start in 120 s") from None
                time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
