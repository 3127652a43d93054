"""The settings panel's side of the window: showing the settings, taking changes, saving the file.

A plain ``QObject`` without widgets of its own. It shows the settings of the model picked
in the picker (the defaults with that model's overrides), applies what the panel changes,
and writes the settings file a moment after the last change (``schedule_save``), so a
dragged slider writes once. The window is still the only owner of the settings object;
this controller edits it through the getter it is given.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QTimer

from app import settings as settings_io
from app.model_picker import ModelPicker
from app.session import Session
from app.settings import AppSettings
from app.settings_panel import SettingsPanel

SAVE_DELAY_MS = 300  # changes within this long of each other are written once


class SettingsController(QObject):
    def __init__(self, session: Session, settings: Callable[[], AppSettings], panel: SettingsPanel,
                 picker: ModelPicker, notify: Callable[[str], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session, self._settings, self.panel, self.picker, self._notify = session, settings, panel, picker, notify
        # Made by enable_saving: changes while the window builds itself are not saved.
        self._save_timer: QTimer | None = None
        panel.value_changed.connect(self._on_settings_value_changed)
        panel.override_toggled.connect(self._on_settings_override_toggled)
        panel.reset_requested.connect(self._on_settings_reset_requested)

    def current_model_name(self) -> str:
        return Path(self.picker.current()).name if self.picker.current() else ""

    def show(self) -> None:
        """Show the picked model's settings, and its context limit (the loaded one's, if it is loaded)."""
        settings, name = self._settings(), self.current_model_name()
        self.panel.show_settings(settings.for_model(name), name, name in settings.overrides)
        self.picker.context_length = settings.for_model(name).context_length
        self.picker.set_models(self.picker.folders())
        current, loaded = self.picker.current(), self.session.loaded
        live = loaded if loaded and (not current or self.picker.loaded_path == current) else None
        info = live.info if live else self.picker.infos.get(current)
        self.panel.set_context_limit(info.max_context if info else None, info.name if info else name,
                                     self.session.loaded_context if live else None)

    def _on_settings_value_changed(self, name: str, value: object, model: str) -> None:
        try:
            self._settings().set_value(name, value, model or None)
        except ValueError as exc:
            self._notify(str(exc))
            return
        self.schedule_save()
        if name in ("context_length", "provider", "threads") and self.session.loaded is not None:
            self.panel.show_reload("The new context length, provider or threads apply when the model "
                                   "loads again.")
        if name == "context_length":
            self.picker.context_length = int(value)  # type: ignore[arg-type]
            self.picker.set_models(self.picker.folders())

    def _on_settings_override_toggled(self, checked: bool) -> None:
        name, settings = self.current_model_name(), self._settings()
        if checked:
            settings.overrides.setdefault(name, {})
        else:
            settings.clear_overrides(name)
        self.schedule_save()
        self.show()

    def _on_settings_reset_requested(self) -> None:
        self._settings().reset()
        self.schedule_save()
        self.show()

    # -- saving -------------------------------------------------------------------------
    def enable_saving(self) -> None:
        """From now on ``schedule_save`` writes the file (the window calls it once it is built)."""
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(SAVE_DELAY_MS)
        self._save_timer.timeout.connect(self.save)

    def schedule_save(self) -> None:
        if self._save_timer is not None:
            self._save_timer.start()

    def save(self) -> None:
        """Write now (quitting); a failure becomes a notice."""
        if self._save_timer is not None:
            self._save_timer.stop()
        try:
            settings_io.save(self._settings())
        except OSError as exc:
            self._notify(f"Could not save settings: {exc}")
