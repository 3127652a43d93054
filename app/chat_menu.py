"""The Chats menu: export this chat or all chats to Markdown or JSON, import a JSON export."""

from __future__ import annotations

import sqlite3
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog, QMenu

from app import chat_export

if TYPE_CHECKING:
    from app.main_window import MainWindow


def install_chat_menu(window: MainWindow) -> QMenu:
    menu = window.menuBar().addMenu("&Chats")
    menu.addAction("Export this chat as Markdown…", lambda: ask_and_export(window, everything=False, markdown=True))
    menu.addAction("Export this chat as JSON…", lambda: ask_and_export(window, everything=False, markdown=False))
    menu.addSeparator()
    menu.addAction("Export all chats as Markdown…", lambda: ask_and_export(window, everything=True, markdown=True))
    menu.addAction("Export all chats as JSON…", lambda: ask_and_export(window, everything=True, markdown=False))
    menu.addSeparator()
    menu.addAction("Import chats from JSON…", lambda: ask_and_import(window))
    return menu


def export_chats(window: MainWindow, path: str, everything: bool, markdown: bool) -> int:
    """Write the export to ``path``; the number of chats written."""
    ids = [c.id for c in window.store.conversations()] if everything else (
        [window.conversation_id] if window.conversation_id is not None else [])
    model = window.loaded.info.name if window.loaded else None
    settings = asdict(window.settings.for_model(model))
    data = chat_export.export_data(window.store, ids, settings, window.settings.chat_presets)
    text = chat_export.to_markdown(data) if markdown else chat_export.to_json(data)
    Path(path).write_text(text, encoding="utf-8")
    return len(data["conversations"])


def import_chats(window: MainWindow, path: str) -> int:
    """Add the chats of a JSON export; the number added. Raises ``ChatFileError`` or ``OSError``."""
    data = chat_export.parse(Path(path).read_text(encoding="utf-8"))
    added = chat_export.import_data(window.store, data)
    for cid, preset in added:
        if preset and preset in window.settings.presets:
            window.settings.chat_presets[str(cid)] = preset
    window.conversations.reload(select=added[-1][0] if added else None)
    return len(added)


def ask_and_export(window: MainWindow, everything: bool, markdown: bool) -> None:
    if not everything and window.conversation_id is None:
        window.chat.add_notice("Open a chat first, or export all chats.", "info")
        return
    kind = "Markdown (*.md)" if markdown else "JSON (*.json)"
    name = "hearth-chats" if everything else "hearth-chat"
    path, _ = QFileDialog.getSaveFileName(window, "Export chats", f"{name}.{'md' if markdown else 'json'}", kind)
    if not path:
        return
    try:
        n = export_chats(window, path, everything, markdown)
    except OSError as exc:
        window.chat.add_notice(f"Could not write {Path(path).name}: {exc.strerror or exc}")
        return
    window.statusBar().showMessage(f"Exported {n} chat{'s' if n != 1 else ''} to {path}", 5000)


def ask_and_import(window: MainWindow) -> None:
    path, _ = QFileDialog.getOpenFileName(window, "Import chats", "", "Hearth chat export (*.json)")
    if not path:
        return
    try:
        n = import_chats(window, path)
    except (OSError, UnicodeDecodeError, sqlite3.Error, chat_export.ChatFileError) as exc:
        window.chat.add_notice(f"Could not import {Path(path).name}: {exc}")
        return
    window.settings_control.schedule_save()
    window.statusBar().showMessage(f"Imported {n} chat{'s' if n != 1 else ''}", 5000)
