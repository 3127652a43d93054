"""Two installs of the default model at once: the second waits, then finds it installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from engine.convert.exact_graph import ROUTE as DEFAULT_ROUTE

REPO = Path(__file__).resolve().parents[2]

# A real install_default in a real process, with the download and the (minute-long)
# conversion replaced by stand-ins; the conversion holds until the test says go.
INSTALLER = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    from engine.convert import default_model
    from engine.core.errors import ConversionError
    work = Path(sys.argv[1])

    def fake_convert(src, out, **kwargs):
        out = Path(out)
        if out.exists():
            raise ConversionError(f"{out} already exists")
        (work / f"convert-{os.getpid()}").touch()
        build = out.with_name(f"{out.name}.build-{os.getpid()}")
        build.mkdir()
        deadline = time.monotonic() + 120
        while not (work / "go").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        (build / "hearth.json").write_text(json.dumps({"route": default_model.DEFAULT_ROUTE, "pid": os.getpid()}))
        os.rename(build, out)
        return out

    import engine.convert.pipeline
    engine.convert.pipeline.convert = fake_convert
    default_model._fetch_gguf = lambda progress: work / "model.gguf"
    default_model.install_default(progress=lambda line: print(line, flush=True))
    """
)


def _start(work: Path, name: str, env: dict[str, str]) -> tuple[subprocess.Popen, Path]:
    out = work / f"{name}.out"
    with open(out, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-c", INSTALLER, str(work)], cwd=REPO, env=env, stdout=fh,
                                stderr=subprocess.STDOUT)
    return proc, out


def _wait_for(condition, what: str, procs: list[subprocess.Popen], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        for proc in procs:
            assert proc.poll() is None, f"an installer exited early ({proc.returncode}) while waiting for {what}"
        time.sleep(0.05)


def test_second_install_waits_for_the_first(tmp_path: Path) -> None:
    home = tmp_path / "home"
    target = home / "data" / "models" / "SmolLM2-135M-Instruct"
    target.mkdir(parents=True)  # an outdated build: both installers want to replace it
    (target / "hearth.json").write_text(json.dumps({"route": "an-older-route"}))
    env = {**os.environ, "HEARTH_HOME": str(home)}
    first, first_out = _start(tmp_path, "first", env)
    _wait_for(lambda: list(tmp_path.glob("convert-*")), "the first conversion", [first])
    second, second_out = _start(tmp_path, "second", env)
    _wait_for(lambda: "waiting" in second_out.read_text() or len(list(tmp_path.glob("convert-*"))) > 1,
              "the second installer to wait or convert", [first, second])
    (tmp_path / "go").touch()
    assert first.wait(timeout=60) == 0, first_out.read_text()
    assert second.wait(timeout=60) == 0, second_out.read_text()

    assert [p.name for p in tmp_path.glob("convert-*")] == [f"convert-{first.pid}"]  # one conversion
    assert "already installed" in second_out.read_text()
    meta = json.loads((target / "hearth.json").read_text())
    assert meta == {"route": DEFAULT_ROUTE, "pid": first.pid}
    assert sorted(p.name for p in target.parent.iterdir() if not p.name.endswith(".lock")) == [target.name]
