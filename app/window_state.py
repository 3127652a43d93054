"""The window's geometry, splitter and settings-panel visibility, kept in settings.json (base64)."""

from __future__ import annotations

from PySide6.QtCore import QByteArray


def restore_window(window, saved: dict[str, str]) -> None:  # noqa: ANN001 - the MainWindow
    if saved.get("geometry"):
        window.restoreGeometry(QByteArray.fromBase64(saved["geometry"].encode()))
    if saved.get("splitter"):
        window.splitter.restoreState(QByteArray.fromBase64(saved["splitter"].encode()))
    if saved.get("settings_visible") == "0":
        window.settings_action.setChecked(False)


def window_state(window) -> dict[str, str]:  # noqa: ANN001 - the MainWindow
    return {
        "geometry": bytes(window.saveGeometry().toBase64().data()).decode(),
        "splitter": bytes(window.splitter.saveState().toBase64().data()).decode(),
        "settings_visible": "1" if window.settings_action.isChecked() else "0",
    }
