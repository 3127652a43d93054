"""Convert a GGUF file or Hugging Face folder into a model, with progress and errors in the dialog.

The dialog stays open while the conversion runs: its bar follows the stage
percentages the CLI prints, a failure is shown inside it in the app's words, and
the source, name and options stay as typed so the user can fix one and try again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.bridge import ConvertRequest, Failure, JobProgress


def missing_extra_note() -> str:
    """Empty when converting can work; otherwise what to install (a cheap module lookup)."""
    from engine.convert.pipeline import require_convert_extra
    from engine.core.errors import MissingExtraError

    try:
        require_convert_extra()
    except MissingExtraError as exc:
        return str(exc)
    return ""


def gguf_in(folder: str | Path) -> Path | None:
    """The first ``.gguf`` file directly inside ``folder`` (what "Add model folder…" offers to convert)."""
    try:
        found = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() == ".gguf" and p.is_file())
    except OSError:
        return None
    return found[0] if found else None


def suggested_name(source: Path) -> str:
    # "SmolLM2-135M-Instruct.Q4_1.gguf" -> "SmolLM2-135M-Instruct"; folders keep their name (as the CLI does).
    return (source.name if source.is_dir() else source.name.split(".")[0]) or "converted-model"


def free_name(models_dir: Path, base: str) -> str:
    """``base``, or ``base-2``, ``base-3``… whichever is not yet a folder in ``models_dir``."""
    name, n = base, 1
    while (models_dir / name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def app_wording(message: str, out_dir: Path) -> str:
    """A CLI failure in the dialog's terms: no "error:" prefixes, no option names like ``--out``."""
    lines = [line.strip() for line in message.splitlines() if line.strip() and not line.strip().startswith("[")]
    lines = [line[len("error:"):].strip() if line.lower().startswith("error:") else line for line in lines]
    text = "\n".join(lines) or "The conversion failed."
    if "already exists" in text:
        return f"A model named {out_dir.name} already exists. Choose another name."
    return text.replace("--out", "name").replace("--precision", "precision").replace("--provider", "target")


class ConvertDialog(QDialog):
    """Emits ``convert_requested(ConvertRequest)`` and ``cancel_requested()``; listens to the job worker."""

    convert_requested = Signal(object)  # ConvertRequest
    cancel_requested = Signal()

    def __init__(self, models_dir: Path, jobs: QObject, parent: QWidget | None = None, source: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Convert a model")
        self.setMinimumWidth(520)
        self.models_dir = models_dir
        self.running = False
        self._out = models_dir
        layout = QVBoxLayout(self)
        form = QFormLayout()
        row = QHBoxLayout()
        self.source = QLineEdit()
        self.source.setPlaceholderText("a .gguf file or a Hugging Face model folder")
        self.source.textChanged.connect(self._on_source_changed)
        row.addWidget(self.source, 1)
        self.pick_file = QPushButton("File…")
        self.pick_file.clicked.connect(self._on_pick_file_clicked)
        self.pick_folder = QPushButton("Folder…")
        self.pick_folder.clicked.connect(self._on_pick_folder_clicked)
        row.addWidget(self.pick_file)
        row.addWidget(self.pick_folder)
        form.addRow("Source", row)
        self.name = QLineEdit()
        self.name.textEdited.connect(lambda _t: self.show_error(""))
        form.addRow("Name", self.name)
        self.precision = QComboBox()
        self.precision.addItems(["int4", "int8", "fp16", "fp32"])
        form.addRow("Precision", self.precision)
        self.provider = QComboBox()
        self.provider.addItems(["cpu", "cuda", "dml"])
        form.addRow("Built for", self.provider)
        layout.addLayout(form)
        self.note = QLabel(missing_extra_note())
        self.note.setWordWrap(True)
        self.note.setObjectName("ErrorNotice")
        self.note.setVisible(bool(self.note.text()))
        layout.addWidget(self.note)
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setObjectName("ErrorNotice")
        self.error.setVisible(False)
        layout.addWidget(self.error)
        self.stage = QLabel("")
        self.stage.setWordWrap(True)
        self.stage.setVisible(False)
        layout.addWidget(self.stage)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setVisible(False)
        layout.addWidget(self.progress)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Convert")
        self.ok_button.setEnabled(not self.note.text())
        self.buttons.accepted.connect(self._on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        jobs.progressed.connect(self._on_jobs_progressed)  # type: ignore[attr-defined]
        jobs.convert_finished.connect(self._on_jobs_convert_finished)  # type: ignore[attr-defined]
        jobs.failed.connect(self._on_jobs_failed)  # type: ignore[attr-defined]
        if source:
            self.source.setText(source)

    # -- input -----------------------------------------------------------------------------
    def _on_pick_file_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a GGUF file", "", "GGUF (*.gguf)")
        if path:
            self.source.setText(path)

    def _on_pick_folder_clicked(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose a Hugging Face model folder")
        if path:
            self.source.setText(path)

    def _on_source_changed(self, text: str) -> None:
        self.show_error("")
        if text.strip() and not self.name.isModified():
            self.name.setText(free_name(self.models_dir, suggested_name(Path(text.strip()))))

    def problem(self) -> str:
        """What keeps OK from starting, in words; empty when the input is complete."""
        text = self.source.text().strip()
        if not text:
            return "Choose the model to convert first: a .gguf file (File…) or a Hugging Face model folder (Folder…)."
        if not Path(text).exists():
            return f"{text} was not found. Choose an existing .gguf file or model folder."
        name = self.name.text().strip()
        if not name:
            return "Give the converted model a name."
        if any(c in name for c in "/\\:") or name in (".", ".."):
            return "A model name cannot contain / \\ or :. Choose another name."
        if (self.models_dir / name).exists():
            return f"A model named {name} already exists. Choose another name, such as {free_name(self.models_dir, name)}."
        return ""

    def request(self) -> ConvertRequest:
        out = self.models_dir / (self.name.text().strip() or "converted-model")
        return ConvertRequest(self.source.text().strip(), str(out), self.precision.currentText(),
                              self.provider.currentText())

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))

    # -- running ---------------------------------------------------------------------------
    def _on_buttons_accepted(self) -> None:
        if self.running:
            return
        problem = self.problem()
        if problem:
            self.show_error(problem)
            return
        request = self.request()
        self._out = Path(request.out_dir)
        self._set_running(True)
        self.convert_requested.emit(request)

    def reject(self) -> None:
        if self.running:  # Cancel stops the conversion; the dialog stays to say so
            self.cancel_requested.emit()
            self.stage.setText("Cancelling…")
            return
        super().reject()

    def _set_running(self, running: bool) -> None:
        self.running = running
        for w in (self.source, self.name, self.precision, self.provider, self.pick_file, self.pick_folder,
                  self.ok_button):
            w.setEnabled(not running)
        self.progress.setVisible(running)
        self.stage.setVisible(running)
        if running:
            self.show_error("")
            self.progress.setValue(0)
            self.stage.setText("Starting…")

    def _on_jobs_progressed(self, progress: JobProgress) -> None:
        if not self.running or progress.kind != "convert":
            return
        text = progress.text.strip()
        if progress.fraction is not None and "%]" in text:
            text = text[text.index("%]") + 2:].strip()  # the bar shows the percentage
        self.stage.setText(text[-120:])
        if progress.fraction is not None:
            self.progress.setValue(round(progress.fraction * 100))

    def _on_jobs_convert_finished(self, _folder: str) -> None:
        if self.running:
            self._set_running(False)
            self.accept()

    def _on_jobs_failed(self, failure: Failure) -> None:
        if not self.running or failure.kind != "convert":
            return
        self._set_running(False)
        if failure.message == "Cancelled.":
            self.show_error("Conversion cancelled. Nothing was installed.")
        else:
            self.show_error("Conversion failed: " + app_wording(failure.message, self._out))


def offer_conversion(folder: str, confirm: Callable[[str, str], bool], open_dialog: Callable[[str], object]) -> bool:
    """A folder that is not a model but holds a GGUF: ask, then open the dialog prefilled. False if none."""
    gguf = gguf_in(folder)
    if gguf is None:
        return False
    if confirm("Convert this model?", f"{Path(folder).name} is not a model Hearth can open yet, but it holds "
                                      f"{gguf.name}, a GGUF file Hearth can convert. Convert it now?"):
        open_dialog(str(gguf))
    return True

