"""Light and dark themes that follow the system's colour scheme."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

ASSETS = Path(__file__).resolve().parent.parent / "assets"

LIGHT = {
    "window": "#f7f7f8", "base": "#ffffff", "text": "#1f2328", "muted": "#6b7280", "panel": "#eef0f3",
    "border": "#d9dce1", "accent": "#d9622b", "accent_text": "#ffffff", "user": "#fff3eb", "assistant": "#ffffff",
    "error_bg": "#fdecea", "error_text": "#8a1c12", "info_bg": "#eaf2fd", "info_text": "#174a84",
}
DARK = {
    "window": "#1b1c1f", "base": "#232428", "text": "#e6e6e6", "muted": "#9ca3af", "panel": "#202125",
    "border": "#34363b", "accent": "#f08a4b", "accent_text": "#1b1c1f", "user": "#2d2722", "assistant": "#26272b",
    "error_bg": "#3b1f1d", "error_text": "#f5b4ab", "info_bg": "#1d2a3b", "info_text": "#a9c8f0",
}


def system_is_dark() -> bool:
    hints = QGuiApplication.styleHints()
    return hints.colorScheme() == Qt.ColorScheme.Dark


def _palette(colors: dict[str, str]) -> QPalette:
    p = QPalette()
    c = {k: QColor(v) for k, v in colors.items()}
    p.setColor(QPalette.ColorRole.Window, c["window"])
    p.setColor(QPalette.ColorRole.WindowText, c["text"])
    p.setColor(QPalette.ColorRole.Base, c["base"])
    p.setColor(QPalette.ColorRole.AlternateBase, c["panel"])
    p.setColor(QPalette.ColorRole.Text, c["text"])
    p.setColor(QPalette.ColorRole.Button, c["panel"])
    p.setColor(QPalette.ColorRole.ButtonText, c["text"])
    p.setColor(QPalette.ColorRole.Highlight, c["accent"])
    p.setColor(QPalette.ColorRole.HighlightedText, c["accent_text"])
    p.setColor(QPalette.ColorRole.ToolTipBase, c["base"])
    p.setColor(QPalette.ColorRole.ToolTipText, c["text"])
    p.setColor(QPalette.ColorRole.PlaceholderText, c["muted"])
    p.setColor(QPalette.ColorRole.Link, c["accent"])
    return p


def apply(app: QApplication, dark: bool | None = None) -> bool:
    """Style ``app`` for the system scheme (or ``dark``); returns whether dark was chosen."""
    dark = system_is_dark() if dark is None else dark
    colors = DARK if dark else LIGHT
    app.setStyle("Fusion")
    app.setPalette(_palette(colors))
    sheet = (ASSETS / "hearth.qss").read_text(encoding="utf-8") if (ASSETS / "hearth.qss").is_file() else ""
    for key, value in sorted(colors.items(), key=lambda kv: -len(kv[0])):  # @accent_text before @accent
        sheet = sheet.replace(f"@{key}", value)
    app.setStyleSheet(sheet)
    return dark
