"""`hearth-cli models install-default` installs the embedder beside the chat model, once."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main
from engine.convert import default_model, embedder_model

TEST_HOME = Path(__file__).resolve().parents[2] / ".hearth-dev" / "test-home"


def test_install_default_runs_both_installers_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HEARTH_HOME", str(tmp_path))
    calls: list[str] = []
    monkeypatch.setattr(default_model, "install_default", lambda progress: calls.append("chat") or tmp_path / "m")
    monkeypatch.setattr(embedder_model, "install_embedder", lambda progress: calls.append("embedder") or tmp_path / "e")
    assert main(["models", "install-default"]) == 0
    assert calls == ["chat", "embedder"]


def test_install_default_stops_before_the_embedder_when_the_chat_model_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine.core.errors import ConversionError

    monkeypatch.setenv("HEARTH_HOME", str(tmp_path))
    calls: list[str] = []

    def fail(progress: object) -> Path:
        raise ConversionError("no network")

    monkeypatch.setattr(default_model, "install_default", fail)
    monkeypatch.setattr(embedder_model, "install_embedder", lambda progress: calls.append("embedder") or tmp_path)
    assert main(["models", "install-default"]) == 2
    assert calls == []
    assert "no network" in capsys.readouterr().err


def test_install_default_is_idempotent_and_leaves_the_embedder_usable(
    default_model_dir: Path, embedder_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real installers, on the fixtures' test home: a second run only says both are there."""
    monkeypatch.setenv("HEARTH_HOME", str(TEST_HOME))
    before = (embedder_dir / "model.onnx").stat().st_mtime_ns
    assert main(["models", "install-default"]) == 0
    out = capsys.readouterr().out
    assert "already installed" in out and embedder_model.EMBEDDER_NAME in out
    assert f"{default_model.DEFAULT_NAME} is already installed" in out
    assert embedder_model.is_installed()
    assert (embedder_dir / "model.onnx").stat().st_mtime_ns == before
    assert embedder_dir.parent.parent == default_model_dir.parent.parent  # both under <data>
