"""The settings panel: sampling, system prompt, context, overflow, provider, threads, speculation, server.

The number fields use the bounds of ``app.settings.LIMITS`` (the context length also the
model's maximum) and say so under the field when a value is outside them; only valid
values are emitted. Edits go to the defaults, or to the current model's overrides when
"Only for this model" is ticked. Changes that apply at load time show a Reload button.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.number_field import NumberField
from app.server_settings import ServerSection
from app.settings import LIMITS, OVERFLOW_POLICIES, PROVIDERS, ModelSettings
from app.speculation_settings import SpeculationSection

_POLICY_NAMES = {"drop_oldest": "Drop oldest turns", "truncate_middle": "Truncate the middle", "stop": "Stop and tell me"}


class SettingsPanel(QWidget):
    """Emits ``value_changed(name, value, model_or_empty)`` for each edit."""

    value_changed = Signal(str, object, str)
    reset_requested = Signal()
    reload_requested = Signal()
    override_toggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("SettingsPanel")
        self.model_name = ""
        self._loading = False
        shell = QVBoxLayout(self)  # the fields scroll, so the window's minimum height stays small
        shell.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea(widgetResizable=True, frameShape=QFrame.Shape.NoFrame,
                             horizontalScrollBarPolicy=Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        shell.addWidget(scroll)
        body = QWidget()
        scroll.setWidget(body)
        outer = QVBoxLayout(body)
        outer.setContentsMargins(10, 10, 10, 10)
        title = QLabel("<b>Settings</b>")
        outer.addWidget(title)
        self.override = QCheckBox("Only for this model")
        self.override.setToolTip("Keep these values for the selected model only")
        self.override.toggled.connect(self._on_override_toggled)
        outer.addWidget(self.override)
        form = QFormLayout()
        outer.addLayout(form)
        self.widgets: dict[str, QWidget | NumberField] = {}
        self.system_prompt = QPlainTextEdit()
        self.system_prompt.setFixedHeight(80)
        self.system_prompt.textChanged.connect(lambda: self._emit("system_prompt", self.system_prompt.toPlainText()))
        form.addRow("System prompt", self.system_prompt)
        self.widgets["system_prompt"] = self.system_prompt
        self._double(form, "temperature", "Temperature", 0.05, 2, "0 = always the most likely token")
        self._int(form, "top_k", "Top-k", 1, "0 = off")
        self._double(form, "top_p", "Top-p", 0.05, 2)
        self._double(form, "min_p", "Min-p", 0.01, 2)
        self._double(form, "repetition_penalty", "Repetition penalty", 0.05, 2, "1.0 = off")
        self._int(form, "max_new_tokens", "Max new tokens", 64)
        self._int(form, "seed", "Seed", 1, "Empty = random", special=(-1, "random"))
        self._int(form, "context_length", "Context length", 256, "Applies when the model is (re)loaded")
        self.policy = QComboBox()
        for key in OVERFLOW_POLICIES:
            self.policy.addItem(_POLICY_NAMES[key], key)
        self.policy.currentIndexChanged.connect(lambda: self._emit("overflow_policy", self.policy.currentData()))
        self.policy.setToolTip("What to do when the chat outgrows the context")
        form.addRow("When the context is full", self.policy)
        self.widgets["overflow_policy"] = self.policy
        self.provider = QComboBox()
        for key in PROVIDERS:
            self.provider.addItem({"auto": "Automatic", "cpu": "CPU", "cuda": "CUDA (NVIDIA)", "dml": "DirectML",
                                   "coreml": "Core ML"}[key], key)
        self.provider.currentIndexChanged.connect(lambda: self._emit("provider", self.provider.currentData()))
        self.provider.setToolTip("Applies when the model is (re)loaded")
        form.addRow("Execution provider", self.provider)
        self.widgets["provider"] = self.provider
        self._int(form, "threads", "Threads", 1, "Empty = automatic; applies when the model is (re)loaded",
                  special=(0, "automatic"))
        self.reload_note = QLabel("")
        self.reload_note.setWordWrap(True)
        self.reload_note.setObjectName("ReloadNote")
        self.reload_note.setVisible(False)
        outer.addWidget(self.reload_note)
        self.reload_button = QPushButton("Reload the model")
        self.reload_button.setToolTip("Load the model again with the new context length, provider or threads")
        self.reload_button.clicked.connect(self.reload_requested)
        self.reload_button.setVisible(False)
        outer.addWidget(self.reload_button)
        reset = QPushButton("Reset to defaults")
        reset.clicked.connect(self.reset_requested)
        outer.addWidget(reset)
        self.speculation = SpeculationSection()  # Settings → Speculation, driven by app/speculation_controller.py
        outer.addWidget(self.speculation)
        self.server = ServerSection()  # Settings → Local server, driven by app/server_controller.py
        outer.addWidget(self.server)
        outer.addStretch(1)
        # As wide as the fields need (as before they scrolled), beside the vertical scroll bar.
        self.setMinimumWidth(body.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width())

    def _double(self, form: QFormLayout, name: str, label: str, step: float, decimals: int,
                tip: str = "") -> NumberField:
        return self._field(form, name, label, NumberField.for_limit(label, LIMITS[name], decimals), tip)

    def _int(self, form: QFormLayout, name: str, label: str, step: int, tip: str = "",
             special: tuple[float, str] | None = None) -> NumberField:
        return self._field(form, name, label, NumberField.for_limit(label, LIMITS[name], special=special), tip)

    def _field(self, form: QFormLayout, name: str, label: str, box: NumberField, tip: str) -> NumberField:
        box.edit.setToolTip(tip or box.range_text().replace(" must be ", " can be "))
        box.setParent(self)
        box.value_changed.connect(lambda v: self._emit(name, v))
        form.addRow(label, box.edit)
        form.addRow(box.error)
        form.addRow(box.hint)
        self.widgets[name] = box
        return box

    def set_context_limit(self, max_context: int | None, model_name: str, in_use: int | None) -> None:
        """Bound the context field by the model's maximum; say which value the loaded model really uses."""
        box = self.widgets["context_length"]
        assert isinstance(box, NumberField)
        if max_context:
            box.setMaximum(min(LIMITS["context_length"].high, max_context), f"the most {model_name} supports")
        else:
            box.setMaximum(LIMITS["context_length"].high)
        shown = box.value()
        if in_use is not None and in_use != shown:
            box.show_hint(f"In use: {in_use:,} tokens (the setting is {int(shown):,}; the model allows at most "
                          f"{max_context or in_use:,}).")
            box.show_value(in_use)
        elif in_use is None and max_context and shown > max_context:
            box.show_hint(f"{model_name} will use {max_context:,} tokens, its maximum.")
        else:
            box.show_hint(f"In use: {in_use:,} tokens." if in_use is not None else "")

    def show_reload(self, text: str) -> None:
        """A load-time setting changed while a model is loaded: say so, with a Reload button."""
        self.reload_note.setText(text)
        self.reload_note.setVisible(bool(text))
        self.reload_button.setVisible(bool(text))

    def _emit(self, name: str, value: Any) -> None:
        if not self._loading:
            self.value_changed.emit(name, value, self.model_name if self.override.isChecked() else "")

    def _on_override_toggled(self, checked: bool) -> None:
        if not self._loading:
            self.override_toggled.emit(checked)

    def show_settings(self, settings: ModelSettings, model_name: str, overridden: bool) -> None:
        """Fill the widgets without echoing the values back as edits."""
        self._loading = True
        try:
            self.model_name = model_name
            self.override.setEnabled(bool(model_name))
            self.override.setText(f"Only for {model_name}" if model_name else "Only for this model")
            self.override.setChecked(overridden)
            if self.system_prompt.toPlainText() != settings.system_prompt:
                self.system_prompt.setPlainText(settings.system_prompt)
            for name, widget in self.widgets.items():
                value = getattr(settings, name)
                if isinstance(widget, QComboBox):
                    widget.setCurrentIndex(max(0, widget.findData(value)))
                elif isinstance(widget, NumberField):
                    widget.show_value(value)
        finally:
            self._loading = False

    def set_value(self, name: str, value: Any) -> None:
        """Set one widget as if the user had edited it (used by tests and shortcuts)."""
        widget = self.widgets[name]
        if isinstance(widget, QComboBox):
            widget.setCurrentIndex(widget.findData(value))
        elif isinstance(widget, QPlainTextEdit):
            widget.setPlainText(value)
        else:
            widget.setValue(value)  # type: ignore[attr-defined]


