"""The shipped catalogue is valid, its estimates are sound, and `hearth-cli models search/pull` work end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.catalogue.entries import CATALOGUE_FILE, CatalogueError, load_catalogue
from tests.helpers.local_hub import LocalHub

ID_FORMAT = "[a-z0-9][a-z0-9._-]*"


def test_the_shipped_catalogue_follows_its_schema():
    raw = json.loads(CATALOGUE_FILE.read_text(encoding="utf-8"))
    assert raw["version"] == 1
    entries = load_catalogue()
    assert len(entries) >= 5 and {e.format for e in entries} == {"gguf", "onnx"}
    for entry, spec in zip(entries, raw["models"]):
        assert set(spec) <= {"id", "name", "repo", "format", "files", "size_bytes", "quantization", "parameters",
                             "architecture", "license", "card", "revision", "subfolder"}
        assert __import__("re").fullmatch(ID_FORMAT, entry.id), entry.id
        assert entry.repo.count("/") == 1 and entry.card.startswith("https://huggingface.co/")
        assert entry.size_bytes > 10**8 and entry.license and entry.quantization
        a = entry.architecture
        assert a.layers > 0 and a.kv_heads > 0 and a.head_dim > 0 and a.context >= 2048


def test_a_broken_catalogue_is_a_clear_error(tmp_path):
    bad = tmp_path / "catalogue.json"
    bad.write_text('{"version": 1, "models": [{"id": "x"}]}', encoding="utf-8")
    with pytest.raises(CatalogueError, match="cannot be read"):
        load_catalogue(bad)
    spec = json.loads(CATALOGUE_FILE.read_text(encoding="utf-8"))
    spec["models"][0]["files"] = ["../../etc/passwd"]
    bad.write_text(json.dumps(spec), encoding="utf-8")
    with pytest.raises(CatalogueError, match="relative paths inside the repository"):
        load_catalogue(bad)


def test_the_memory_estimate_grows_with_the_context_and_says_what_does_not_fit():
    phi = next(e for e in load_catalogue() if e.id.startswith("phi-3"))
    assert phi.memory_bytes(4096) - phi.memory_bytes(2048) == phi.kv_cache_bytes(2048)
    assert phi.kv_cache_bytes(4096) == 2 * 32 * 32 * 96 * 4096 * 4  # layers x kv heads x head dim x tokens x fp32, K and V
    assert phi.fits(4096, 8 * 2**30) and not phi.fits(4096, 4 * 2**30)
    assert phi.kv_cache_bytes(10**6) == phi.kv_cache_bytes(phi.architecture.context)  # no more than it was trained for


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True,
                          timeout=600, env={**os.environ, **env})


def test_search_prints_one_line_per_model_offline():
    done = _cli("models", "search", "qwen", "0.5b", "--context", "4096", env={"HF_ENDPOINT": "http://127.0.0.1:9"})
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert first == ("qwen2.5-0.5b-instruct-q4_k_m  Qwen2.5 0.5B Instruct · 0.5B · gguf Q4_K_M · 0.46 GB · "
                     "needs ~1.1 GB at 4096 tokens: fits · apache-2.0")
    nothing = _cli("models", "search", "no-such-model", env={})
    assert nothing.returncode == 1 and "No catalogue model matches." in nothing.stderr


@pytest.mark.slow
def test_pull_downloads_verifies_installs_and_the_model_answers(default_model_dir: Path, tmp_path: Path):
    files = sorted(p.name for p in default_model_dir.iterdir() if p.is_file())
    spec = json.loads(CATALOGUE_FILE.read_text(encoding="utf-8"))
    entry = {**spec["models"][-1], "id": "smollm2-135m-local", "repo": "local/SmolLM2-135M", "files": files,
             "subfolder": ""}
    catalogue = tmp_path / "catalogue.json"
    catalogue.write_text(json.dumps({"version": 1, "models": [entry]}), encoding="utf-8")
    with LocalHub() as hub:
        hub.add("local/SmolLM2-135M", {name: (default_model_dir / name).read_bytes() for name in files})
        env = {"HF_ENDPOINT": hub.url, "HEARTH_CATALOGUE": str(catalogue), "HEARTH_HOME": str(tmp_path / "home")}
        done = _cli("models", "pull", "smollm2-135m-local", env=env)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[0].startswith("[") and "downloading" in lines[0] and " MB)" in lines[0]
        assert lines[-2].startswith("[100%] downloading ")
        installed = tmp_path / "home" / "data" / "models" / "smollm2-135m-local"
        assert lines[-1] == f"Model ready: {installed}"
        again = _cli("models", "pull", "smollm2-135m-local", env=env)
        assert again.returncode == 2 and "already installed" in again.stderr
    answer = _cli("generate", "Say hello.", "--model", str(installed), "--max-new-tokens", "4", env=env)
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip()


@pytest.mark.slow
def test_pulling_a_gguf_converts_it_keeping_its_quantization(default_gguf: Path, tmp_path: Path):
    spec = json.loads(CATALOGUE_FILE.read_text(encoding="utf-8"))
    entry = {**spec["models"][0], "id": "smollm2-135m-gguf", "repo": "local/SmolLM2-135M-GGUF",
             "files": [default_gguf.name]}
    catalogue = tmp_path / "catalogue.json"
    catalogue.write_text(json.dumps({"version": 1, "models": [entry]}), encoding="utf-8")
    with LocalHub() as hub:
        hub.add("local/SmolLM2-135M-GGUF", {default_gguf.name: default_gguf.read_bytes()})
        env = {"HF_ENDPOINT": hub.url, "HEARTH_CATALOGUE": str(catalogue), "HEARTH_HOME": str(tmp_path / "home")}
        done = _cli("models", "pull", "smollm2-135m-gguf", env=env)
    assert done.returncode == 0, done.stderr
    installed = tmp_path / "home" / "data" / "models" / "smollm2-135m-gguf"
    assert done.stdout.splitlines()[-1] == f"Model ready: {installed}"
    recorded = json.loads((installed / "hearth.json").read_text())
    assert recorded["source_weights"] == "Q4_1" and "exact" in recorded["route"]  # its own grid, kept
    answer = _cli("generate", "Say hello.", "--model", str(installed), "--max-new-tokens", "4", env=env)
    assert answer.returncode == 0, answer.stderr
