"""Build the Hearth desktop bundle for this OS with PyInstaller.

    python packaging/build.py            # after: pip install -e ".[package]"

Runs ``pyinstaller packaging/hearth.spec`` (one-folder) into dist/, checks that the
conversion stack (torch, transformers, onnxruntime-genai, ...) did not get in, then
packs it:

    Linux    dist/Hearth/hearth           -> dist/Hearth-linux-x86_64.tar.gz
             (with hearth.desktop, hearth.png and install-desktop-entry.sh inside)
    macOS    dist/Hearth.app              -> dist/Hearth-macos-<arch>.zip
    Windows  dist/Hearth/Hearth.exe       -> dist/Hearth-windows-x64.zip

Options: --no-archive (skip the archive), --dist DIR / --work DIR (default dist/, build/).
Set HEARTH_BUNDLE_CUDA=1 to include onnxruntime-gpu's CUDA provider (see hearth.spec).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "packaging" / "hearth.spec"
# Names that must not appear anywhere in the bundle (the conversion stack stays out).
FORBIDDEN = ("torch", "transformers", "onnxruntime_genai", "onnxruntime-genai", "accelerate", "sympy", "gguf")


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def check_excluded(bundle: Path) -> None:
    found = [p for p in bundle.rglob("*") if any(f in p.name.lower() for f in FORBIDDEN)]
    if found:
        listing = "\n  ".join(str(p.relative_to(bundle)) for p in found[:20])
        raise SystemExit(f"build.py: the bundle contains parts of the conversion stack:\n  {listing}")


def archive_linux(dist: Path) -> Path:
    bundle = dist / "Hearth"
    linux = ROOT / "packaging" / "linux"
    for name in ("hearth.desktop", "hearth.png", "install-desktop-entry.sh"):
        shutil.copy2(linux / name, bundle / name)
    machine = platform.machine().lower() or "x86_64"
    out = dist / f"Hearth-linux-{machine}.tar.gz"
    with tarfile.open(out, "w:gz", compresslevel=6) as tar:
        tar.add(bundle, arcname="Hearth")
    return out


def archive_windows(dist: Path) -> Path:
    base = dist / "Hearth-windows-x64"
    return Path(shutil.make_archive(str(base), "zip", root_dir=dist, base_dir="Hearth"))


def archive_macos(dist: Path) -> Path:
    out = dist / f"Hearth-macos-{platform.machine()}.zip"
    out.unlink(missing_ok=True)
    # ditto keeps the symlinks inside Qt's frameworks, which zipfile would not.
    subprocess.run(["ditto", "-c", "-k", "--sequesterRsrc", "--keepParent", str(dist / "Hearth.app"), str(out)],
                   check=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dist", type=Path, default=ROOT / "dist")
    parser.add_argument("--work", type=Path, default=ROOT / "build")
    parser.add_argument("--no-archive", action="store_true")
    args = parser.parse_args()
    dist, work = args.dist.resolve(), args.work.resolve()

    start = time.monotonic()
    cmd = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean",
           "--distpath", str(dist), "--workpath", str(work), str(SPEC)]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)

    bundle = dist / ("Hearth.app" if sys.platform == "darwin" else "Hearth")
    check_excluded(bundle)
    print(f"build.py: {bundle} is {folder_size(bundle) / 1e6:.0f} MB; no torch/transformers/onnxruntime-genai inside",
          flush=True)
    if not args.no_archive:
        if sys.platform.startswith("linux"):
            out = archive_linux(dist)
        elif sys.platform == "darwin":
            out = archive_macos(dist)
        elif os.name == "nt":
            out = archive_windows(dist)
        else:
            out = None
        if out is not None:
            print(f"build.py: wrote {out} ({out.stat().st_size / 1e6:.0f} MB)", flush=True)
    print(f"build.py: done in {time.monotonic() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
