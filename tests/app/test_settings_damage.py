"""Damaged settings files never stop the app, and saves are atomic under concurrency."""

from __future__ import annotations

import json
import threading

import pytest

from app import settings as settings_io
from app.main_window import MainWindow
from tests.app.fakes import ScriptedBackend

DAMAGED = {
    "infinity": '{"defaults": {"max_new_tokens": Infinity, "temperature": 1.25}}',
    "1e400": '{"defaults": {"seed": 1e400, "temperature": 1.25}}',
    "400-digit integer": '{"defaults": {"top_k": ' + "9" * 400 + ', "temperature": 1.25}}',
    "override overflow": '{"overrides": {"m": {"context_length": -Infinity}}, "defaults": {"temperature": 1.25}}',
    "deeply nested": '{"defaults": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "nested window": '{"window": {"geometry": ' + "[" * 900 + "]" * 900 + '}, "defaults": {"temperature": 1.25}}',
}


@pytest.mark.parametrize("text", DAMAGED.values(), ids=DAMAGED.keys())
def test_damaged_settings_start_the_window_with_defaults_a_notice_and_the_file_kept(qtbot, hearth_home, text):
    path = hearth_home / "config" / "settings.json"
    path.parent.mkdir(parents=True)
    path.write_text(text, encoding="utf-8")
    w = MainWindow(ScriptedBackend())
    qtbot.addWidget(w)
    w.show()
    assert w.settings.defaults.max_new_tokens == settings_io.ModelSettings().max_new_tokens
    assert w.settings.defaults.seed == settings_io.ModelSettings().seed
    assert w.settings.defaults.top_k == settings_io.ModelSettings().top_k
    if "temperature" in text[-200:] or "temperature" in text[:200]:
        assert w.settings.defaults.temperature == 1.25  # the good values survive
    notices = [n.text for n in w.chat.notices]
    assert any("settings" in n.lower() and "kept" in n for n in notices), notices
    kept = [p for p in path.parent.iterdir() if p.name.startswith("settings.json.damaged-")]
    assert len(kept) == 1 and kept[0].read_text(encoding="utf-8") == text
    w.close()
    json.loads(path.read_text(encoding="utf-8"))  # the new file is valid


def test_concurrent_saves_all_succeed_and_readers_always_see_valid_json(tmp_path):
    path = tmp_path / "settings.json"
    settings_io.save(settings_io.AppSettings(), path)
    errors: list[BaseException] = []
    done = threading.Event()
    reads = 0

    def writer(n: int) -> None:
        try:
            for i in range(60):
                s = settings_io.AppSettings(last_model=f"model-{n}-{i}" + "x" * 5000)
                settings_io.save(s, path)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    def reader() -> None:
        nonlocal reads
        while not done.is_set():
            try:
                json.loads(path.read_text(encoding="utf-8"))
                reads += 1
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    r = threading.Thread(target=reader)
    r.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    r.join()
    assert errors == []
    assert reads > 0
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]  # no temp files left behind
    loaded, notice = settings_io.load(path)
    assert notice is None and loaded.last_model.startswith("model-")
