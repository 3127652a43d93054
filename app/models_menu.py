"""The Models menu: browse the catalogue and download a model into Hearth."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QMenu

from app.catalogue_dialog import CatalogueDialog

if TYPE_CHECKING:
    from app.main_window import MainWindow


def install_models_menu(window: MainWindow) -> QMenu:
    menu = window.menuBar().addMenu("&Models")

    def browse() -> CatalogueDialog:
        dialog = CatalogueDialog(window.settings.defaults.context_length,  # what a new model starts with
                                 lambda entry: window.models.pull(entry.id, entry.name), window)
        dialog.setModal(True)
        dialog.show()
        window.catalogue_dialog = dialog
        return dialog

    window.browse_catalogue_action = menu.addAction("Browse catalogue…", browse)
    return menu
