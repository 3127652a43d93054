"""``kill -9`` of a conversion leaves no running child, and its partial folder is swept later."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from engine.convert.pipeline import convert
from engine.core.errors import ConversionError

REPO = Path(__file__).resolve().parents[2]
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; parent-death signal is Linux's")

# The parent converts a checkpoint for real, except that the builder step is a child that
# sleeps: it is the child's fate after the parent's death that is under test.
PARENT = textwrap.dedent(
    """
    import sys
    from engine.convert import child_process
    from engine.convert.pipeline import convert
    child_process.python_module = lambda *a: [sys.executable, "-c", "import time; time.sleep(300)"]
    convert(sys.argv[1], sys.argv[2], precision="fp32")
    """
)


def _checkpoint(folder: Path, arch: str = "LlamaForCausalLM") -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"architectures": [arch], "model_type": "llama"}))
    (folder / "model.safetensors").write_bytes(b"\x00" * 64)
    return folder


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    """Alive and not a zombie (a container's PID 1 may never reap orphans)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@linux_only
def test_kill_9_leaves_no_child_and_the_next_run_sweeps_its_folder(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime_genai")
    models = tmp_path / "models"
    src = _checkpoint(tmp_path / "ckpt")
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(src), str(models / "m")], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    child = None
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and child is None:
            assert parent.poll() is None, parent.communicate()[0].decode()
            kids = _children(parent.pid) if list(models.glob(".m.partial-*/builder.log")) else []
            child = kids[0] if kids else None
            time.sleep(0.1)
        assert child is not None, "the builder step never started"
        parent.kill()  # SIGKILL: no handler, no finally
        parent.wait()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _running(child):
            time.sleep(0.1)
        assert not _running(child), "the builder child outlived its killed parent"
    finally:
        if child is not None and _running(child):
            os.kill(child, signal.SIGKILL)
    stale = list(models.glob(".m.partial-*"))
    assert len(stale) == 1  # kill -9 cannot clean up; the next run must
    with pytest.raises(ConversionError, match="FooForCausalLM"):
        convert(_checkpoint(tmp_path / "other", "FooForCausalLM"), models / "other")
    assert sorted(p.name for p in models.iterdir()) == []


def test_only_partial_folders_of_dead_owners_are_swept(tmp_path: Path) -> None:
    models = tmp_path / "models"
    dead, alive = models / f".a.partial-{_dead_pid()}-x1", models / f".b.partial-{os.getpid()}-x2"
    young_legacy = models / ".c.partial-abc123"  # made by an older Hearth: no owner recorded
    old_legacy = models / ".d.partial-def456"
    for folder in (dead, alive, young_legacy, old_legacy, models / "kept-model"):
        folder.mkdir(parents=True)
        (folder / "weights.bin").write_bytes(b"x" * 1024)
    week_ago = time.time() - 7 * 86400
    os.utime(old_legacy, (week_ago, week_ago))
    with pytest.raises(ConversionError, match="FooForCausalLM"):
        convert(_checkpoint(tmp_path / "other", "FooForCausalLM"), models / "other")
    assert sorted(p.name for p in models.iterdir()) == sorted([alive.name, young_legacy.name, "kept-model"])
    shutil.rmtree(models)
