"""The View menu: how replies are shown (for now, the token-probability view)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

if TYPE_CHECKING:
    from app.main_window import MainWindow


def install_view_menu(window: MainWindow) -> QMenu:
    """Add the menu; its probability setting applies to the chat at once and is saved."""
    menu = window.menuBar().addMenu("&View")
    action = QAction("Show token probabilities on every reply", window, checkable=True)
    action.setToolTip("Open replies shaded by how likely the model found each token; each reply's "
                      "Probabilities button still turns it on or off")
    action.setChecked(window.settings.show_probabilities)
    window.chat.probabilities_on = window.settings.show_probabilities

    def on_toggled(checked: bool) -> None:
        window.settings.show_probabilities = checked
        window.chat.probabilities_on = checked
        for widget in window.chat.messages:
            if widget.role == "assistant":
                widget.set_tokens(widget.probabilities.tokens, show=checked)
        window.settings_control.schedule_save()

    action.toggled.connect(on_toggled)
    menu.addAction(action)
    window.probabilities_action = action
    return menu
