"""Issue 12, items 4 and 5: the convert dialog, and "Add model folder…" on a folder holding a GGUF."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from app.bridge import Failure, JobProgress
from app.cli_progress import progress_fraction as _fraction
from app.convert_dialog import ConvertDialog, app_wording, free_name
from app.main_window import MainWindow
from tests.app.fakes import ScriptedBackend


class FakeJobs(QObject):
    progressed = Signal(object)
    convert_finished = Signal(str)
    failed = Signal(object)


def _dialog(qtbot, models: Path, source: str = "") -> tuple[ConvertDialog, FakeJobs, list]:
    jobs = FakeJobs()
    dialog = ConvertDialog(models, jobs, source=source)
    dialog.note.setText("")  # the convert extra may be missing here; the dialog's own logic is under test
    dialog.ok_button.setEnabled(True)
    qtbot.addWidget(dialog)
    requests: list = []
    dialog.convert_requested.connect(requests.append)
    dialog.show()
    return dialog, jobs, requests


def test_name_suggested_is_free(qtbot, tmp_path):
    models = tmp_path / "models"
    (models / "SmolLM2-135M-Instruct").mkdir(parents=True)
    (models / "SmolLM2-135M-Instruct-2").mkdir()
    gguf = tmp_path / "SmolLM2-135M-Instruct.Q4_1.gguf"
    gguf.write_bytes(b"GGUF")
    dialog, _, _ = _dialog(qtbot, models, str(gguf))
    assert dialog.name.text() == "SmolLM2-135M-Instruct-3"
    assert free_name(models, "other") == "other"


def test_ok_without_source_says_what_is_missing(qtbot, tmp_path):
    dialog, _, requests = _dialog(qtbot, tmp_path / "models")
    assert dialog.ok_button.isEnabled()
    dialog.ok_button.click()
    assert dialog.isVisible() and not requests
    assert dialog.error.isVisible() and "Choose the model to convert" in dialog.error.text()


def test_a_name_typed_over_an_existing_model_is_refused_in_the_dialog(qtbot, tmp_path):
    models = tmp_path / "models"
    (models / "taken").mkdir(parents=True)
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    dialog, _, requests = _dialog(qtbot, models, str(gguf))
    dialog.name.setText("taken")
    dialog.ok_button.click()
    assert not requests
    assert "A model named taken already exists" in dialog.error.text() and "--out" not in dialog.error.text()


def test_failure_stays_in_the_dialog_in_app_words_with_input_kept(qtbot, tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    dialog, jobs, requests = _dialog(qtbot, tmp_path / "models", str(gguf))
    dialog.precision.setCurrentText("int8")
    dialog.ok_button.click()
    assert len(requests) == 1 and requests[0].precision == "int8"
    assert dialog.running and not dialog.source.isEnabled()
    out = Path(requests[0].out_dir)
    jobs.failed.emit(Failure("convert", f"[ 10%] reading\nerror: {out} already exists; remove it or choose another --out."))
    assert dialog.isVisible() and not dialog.running
    assert "--out" not in dialog.error.text() and "error:" not in dialog.error.text()
    assert f"A model named {out.name} already exists" in dialog.error.text()
    assert dialog.source.text() == str(gguf) and dialog.precision.currentText() == "int8"
    assert dialog.source.isEnabled() and dialog.ok_button.isEnabled()
    assert app_wording("error: the file is damaged", out) == "the file is damaged"


def test_progress_bar_follows_the_cli_percentages_and_success_closes(qtbot, tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    dialog, jobs, _ = _dialog(qtbot, tmp_path / "models", str(gguf))
    dialog.ok_button.click()
    for line, value in (("[ 10%] reading the GGUF", 10), ("  [ 42%] building the graph", 42), ("note", 42)):
        jobs.progressed.emit(JobProgress("convert", line, _fraction(line)))
        assert dialog.progress.value() == value
    assert dialog.stage.text() == "note"  # a line without a percentage keeps the bar where it was
    jobs.convert_finished.emit(str(tmp_path / "models" / "m"))
    assert not dialog.isVisible() and dialog.result() == ConvertDialog.DialogCode.Accepted


def test_indented_install_lines_move_the_bar():
    # install-default prints its convert stages indented; the bar sat at 0 % because of it.
    assert _fraction("  [ 42%] building the graph") == 0.42
    assert _fraction("[100%] done") == 1.0
    assert _fraction("Downloading x from PyPI ...") is None


def test_cancel_while_running_cancels_and_keeps_the_dialog(qtbot, tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    dialog, jobs, _ = _dialog(qtbot, tmp_path / "models", str(gguf))
    cancels: list = []
    dialog.cancel_requested.connect(lambda: cancels.append(1))
    dialog.ok_button.click()
    dialog.reject()
    assert cancels and dialog.isVisible()
    jobs.failed.emit(Failure("convert", "Cancelled."))
    assert "cancelled" in dialog.error.text() and dialog.isVisible()


def test_add_model_folder_with_a_gguf_offers_to_convert_it(qtbot, tmp_path):
    w = MainWindow(ScriptedBackend())
    qtbot.addWidget(w)
    folder = tmp_path / "downloads"
    folder.mkdir()
    (folder / "notes.txt").write_text("x")
    gguf = folder / "tiny.Q4_1.gguf"
    gguf.write_bytes(b"GGUF")
    asked: list = []
    w._confirm = lambda title, text: asked.append(text) or True  # type: ignore[method-assign]
    opened: list = []
    w._on_picker_convert_requested = lambda source="": opened.append(source)  # type: ignore[method-assign]
    notices_before = len(w.chat.findChildren(QObject))
    w.models.register_folder(str(folder))
    qtbot.waitUntil(lambda: bool(opened), timeout=5000)
    assert opened == [str(gguf)] and "tiny.Q4_1.gguf" in asked[0]
    assert len(w.chat.findChildren(QObject)) == notices_before  # no "not a model" notice
    w.close()


def test_the_window_opens_the_dialog_prefilled(qtbot, tmp_path):
    w = MainWindow(ScriptedBackend())
    qtbot.addWidget(w)
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF")
    dialog = w._on_picker_convert_requested(str(gguf))
    assert dialog.isVisible() and dialog.source.text() == str(gguf) and dialog.name.text() == "tiny"
    dialog.close()
    w.close()
