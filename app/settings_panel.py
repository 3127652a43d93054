"""The settings panel: sampling, system prompt, context, overflow, provider, threads.

The widgets carry the same bounds as ``app.settings.LIMITS``, so they cannot hold an
invalid value. Edits go to the defaults, or to the current model's overrides when
"Only for this model" is ticked.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.settings import LIMITS, OVERFLOW_POLICIES, PROVIDERS, ModelSettings

_POLICY_NAMES = {"drop_oldest": "Drop oldest turns", "truncate_middle": "Truncate the middle", "stop": "Stop and tell me"}


class SettingsPanel(QWidget):
    """Emits ``value_changed(name, value, model_or_empty)`` for each edit."""

    value_changed = Signal(str, object, str)
    reset_requested = Signal()
    override_toggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("SettingsPanel")
        self.model_name = ""
        self._loading = False
        outer = QVBoxLayout(self)
        outer.setContentsMargins(10, 10, 10, 10)
        title = QLabel("<b>Settings</b>")
        outer.addWidget(title)
        self.override = QCheckBox("Only for this model")
        self.override.setToolTip("Keep these values for the selected model only")
        self.override.toggled.connect(self._on_override_toggled)
        outer.addWidget(self.override)
        form = QFormLayout()
        outer.addLayout(form)
        self.widgets: dict[str, QWidget] = {}
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
        seed = self._int(form, "seed", "Seed", 1, "")
        seed.setSpecialValueText("random")
        ctx = self._int(form, "context_length", "Context length", 256, "Applies when the model is (re)loaded")
        ctx.setSuffix(" tokens")
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
        threads = self._int(form, "threads", "Threads", 1, "Applies when the model is (re)loaded")
        threads.setSpecialValueText("automatic")
        self.reload_note = QLabel("")
        self.reload_note.setWordWrap(True)
        self.reload_note.setObjectName("ReloadNote")
        outer.addWidget(self.reload_note)
        reset = QPushButton("Reset to defaults")
        reset.clicked.connect(self.reset_requested)
        outer.addWidget(reset)
        outer.addStretch(1)

    def _double(self, form: QFormLayout, name: str, label: str, step: float, decimals: int,
                tip: str = "") -> QDoubleSpinBox:
        box = QDoubleSpinBox()
        low, high = LIMITS[name]
        box.setRange(low, high)
        box.setSingleStep(step)
        box.setDecimals(decimals)
        box.setToolTip(tip)
        box.valueChanged.connect(lambda v: self._emit(name, round(v, decimals)))
        form.addRow(label, box)
        self.widgets[name] = box
        return box

    def _int(self, form: QFormLayout, name: str, label: str, step: int, tip: str = "") -> QSpinBox:
        box = QSpinBox()
        low, high = LIMITS[name]
        box.setRange(int(low), int(high))
        box.setSingleStep(step)
        box.setToolTip(tip)
        box.valueChanged.connect(lambda v: self._emit(name, int(v)))
        form.addRow(label, box)
        self.widgets[name] = box
        return box

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
                elif isinstance(widget, (QSpinBox, QDoubleSpinBox)):
                    widget.setValue(value)
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


