"""Remote providers in the window without a server: picker entries, removal, the dialog's
fallbacks (a failed model list, a typed id), an unreachable server, and the backend switch."""

from __future__ import annotations


import pytest
from keyring.backends import fail

import app.backend_switch as switch
from app.backend_switch import BackendSwitch, origin_label, remote_entries, split_remote
from app.main_window import MainWindow
from app.remote_dialog import RemoteProviderDialog
from app.state import AppState
from engine.remote.keys import KeyStore
from engine.remote.providers import Provider, add_provider, load_providers
from tests.engine.serve_process import free_port
from tests.helpers.heartbeat import Heartbeat


@pytest.fixture(autouse=True)
def no_keyring(monkeypatch):
    monkeypatch.setattr(switch, "_KEYS", KeyStore(fail.Keyring()))


def test_remote_paths_keep_slashes_in_model_ids():
    p = Provider(name="gpu", base_url="http://gpu-box:8000/v1", kind="vllm", model="meta-llama/Llama-3.1-70B")
    assert remote_entries([p, Provider(name="empty", base_url="http://x:1/v1")]) == {
        "remote://gpu/meta-llama/Llama-3.1-70B": "gpu-box:8000"}
    assert split_remote("remote://gpu/meta-llama/Llama-3.1-70B") == ("gpu", "meta-llama/Llama-3.1-70B")
    assert origin_label("remote://gpu/x") == "remote: gpu" and origin_label("/models/SmolLM2") == ""


def test_the_switch_sends_local_folders_to_the_local_engine_and_refuses_an_unknown_provider():
    calls = []

    class Local:
        def load(self, folder, options):
            calls.append(("load", folder))
            return "info", "report"

        def unload(self):
            calls.append(("unload",))

        speculation = "lookup"

    backend = BackendSwitch(Local(), providers=lambda: [])
    assert backend.load("/models/a") == ("info", "report") and calls == [("load", "/models/a")]
    assert backend.speculation == "lookup"  # the rest belongs to the local engine
    with pytest.raises(Exception, match="No remote provider is named 'nobody'"):
        backend.load("remote://nobody/m")
    with pytest.raises(Exception, match="local server"):
        backend.remote = object()  # type: ignore[assignment]
        backend.start_server(8080, "k")


def test_picker_lists_remote_models_and_removing_one_forgets_its_key(qtbot):
    add_provider(Provider(name="gpu", base_url="http://gpu-box:8000/v1", kind="vllm", model="llama"))
    switch.key_store().set("gpu", "sk-x", session_only=True)
    w = MainWindow()
    qtbot.addWidget(w)
    path = "remote://gpu/llama"
    assert path in w.picker.folders()
    w.picker.combo.setCurrentIndex(w.picker.combo.findData(path))
    assert "remote · gpu-box:8000" in w.picker.combo.currentText()
    assert not w.picker.remote_badge.isHidden() and "leave this machine" in w.picker.details.text()
    assert w.picker.remote_badge.text() == "remote · leaves this machine"
    w._confirm = lambda *_: True
    w.models.delete(path)
    assert path not in w.picker.folders() and load_providers() == []
    assert switch.key_store().get("gpu") is None
    assert w.picker.remote_badge.isHidden()
    w.shutdown()


def test_a_failed_model_list_lets_the_user_type_an_id(qtbot):
    dialog = RemoteProviderDialog(switch.key_store())
    qtbot.addWidget(dialog)
    dialog.fill("vllm", "gone", f"http://127.0.0.1:{free_port()}/v1")
    assert dialog.hint.text().startswith("Start it with: vllm serve")
    beat = Heartbeat()
    beat.start()
    dialog.list_models()
    qtbot.waitUntil(lambda: dialog.list_button.isEnabled(), timeout=10_000)
    beat.stop()
    assert "Could not list the models" in dialog.status.text() and "type a model id" in dialog.status.text()
    assert not beat.gaps or max(beat.gaps) < 0.5
    assert not dialog.add() and "type its id" in dialog.status.text()
    dialog.model.setEditText("my-model")
    assert dialog.add()  # no key: nothing for the key store
    assert load_providers() == [Provider(name="gone", base_url=dialog.base_url.text(), kind="vllm", model="my-model")]


def test_the_dialog_refuses_bad_fields_without_saving(qtbot):
    dialog = RemoteProviderDialog(switch.key_store())
    qtbot.addWidget(dialog)
    dialog.fill("openai", "a/b", "http://x:1/v1")
    dialog.model.setEditText("m")
    assert not dialog.add() and "/" in dialog.status.text()
    dialog.fill("openai", "ok", "")
    dialog.base_url.setText("not a url")
    assert not dialog.add() and "not a server address" in dialog.status.text()
    assert load_providers() == []


def test_an_unreachable_server_is_a_notice_and_the_window_stays_usable(qtbot):
    add_provider(Provider(name="off", base_url=f"http://127.0.0.1:{free_port()}/v1", kind="hearth", model="m"))
    w = MainWindow()
    qtbot.addWidget(w)
    w.load_model("remote://off/m")
    qtbot.waitUntil(lambda: any("Could not load the model" in n.text for n in w.chat.notices), timeout=15_000)
    assert w.state is AppState.IDLE and w.loaded is None
    assert any("127.0.0.1" in n.text for n in w.chat.notices)
    w.shutdown()


def test_a_model_whose_server_gives_no_context_size_uses_the_settings_context(qtbot):
    from dataclasses import replace

    from tests.app.fakes import ScriptedBackend, fake_info

    class NoContext(ScriptedBackend):
        def load(self, folder, options):
            info, report = super().load(folder, options)
            return replace(fake_info(), max_context=0, path=folder), report

    w = MainWindow(backend=NoContext())
    qtbot.addWidget(w)
    w.settings.set_value("context_length", 3072)
    w.load_model("remote://any/m")
    qtbot.waitUntil(lambda: w.loaded is not None, timeout=5_000)
    assert w.session.loaded_context == 3072  # not 0, which would leave no room for documents
    w.shutdown()


@pytest.mark.parametrize("words", [("Hi", " there."), ()])
def test_a_notice_on_the_first_event_shows_once_whether_or_not_text_came(qtbot, words):
    from dataclasses import replace

    from tests.app.fakes import ScriptedBackend

    class Noticing(ScriptedBackend):
        def _events(self, cancel, on_prefill):
            for i, event in enumerate(super()._events(cancel, on_prefill)):
                yield replace(event, notices=("This server does not take top-k.",)) if i == 0 else event

    w = MainWindow(backend=Noticing(words=words))
    qtbot.addWidget(w)
    w.load_model("/nowhere")
    qtbot.waitUntil(lambda: w.loaded is not None, timeout=5_000)
    w.send("hello")
    qtbot.waitUntil(lambda: w.replies_finished == 1, timeout=5_000)
    assert [n.text for n in w.chat.notices].count("This server does not take top-k.") == 1
    w.shutdown()
