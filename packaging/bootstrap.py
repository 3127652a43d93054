"""Set up Hearth on a fresh machine and run it or its tests (the README's two commands).

    python packaging/bootstrap.py run    # venv, install, default model on first use, launch
    python packaging/bootstrap.py test   # venv, install with test tools, the whole test suite

Only the standard library is used here: this runs before anything is installed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def _run(*args: str | Path, env: dict[str, str] | None = None) -> int:
    print("+", " ".join(str(a) for a in args), flush=True)
    return subprocess.call([str(a) for a in args], cwd=ROOT, env=env)


def _check(*args: str | Path) -> None:
    code = _run(*args)
    if code:
        sys.exit(code)


def ensure_env(extras: str) -> None:
    """Create .venv and install Hearth with ``extras``, skipping work already done."""
    if not PYTHON.exists():
        print(f"Creating a virtual environment in {VENV} ...", flush=True)
        venv.create(VENV, with_pip=True)
    stamp = VENV / f".hearth-installed-{extras.replace(',', '-')}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    _check(PYTHON, "-m", "pip", "install", "--upgrade", "pip")
    _check(PYTHON, "-m", "pip", "install", "-e", f".[{extras}]")
    stamp.write_text(digest)


def run_app() -> int:
    # The converter builds the default model on first use, so it is installed too.
    ensure_env("convert")
    _check(BIN / "hearth-cli", "models", "install-default")
    if os.environ.get("HEARTH_NO_GUI"):
        return _run(BIN / "hearth-cli", "generate", "In one sentence, what is a hearth?", "--max-new-tokens", "64")
    return _run(BIN / "hearth")


def run_tests(pytest_args: list[str]) -> int:
    ensure_env("convert,test")
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    code = _run(PYTHON, "-m", "pytest", *(pytest_args or ["tests"]), env=env)
    if code == 5:
        print("pytest collected no tests: that is a failure here.", file=sys.stderr)
        return 1
    return code


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("run", "test"):
        print(__doc__)
        return 2
    return run_app() if sys.argv[1] == "run" else run_tests(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
