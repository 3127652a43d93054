"""The first-start card in the chat: install the default model, or add a folder."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget


class WelcomeCard(QFrame):
    install_requested = Signal()
    add_folder_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Welcome")
        layout = QVBoxLayout(self)
        text = QLabel(
            "<b>Welcome to Hearth.</b><br>No models are installed yet. Install the small default model "
            "(SmolLM2-135M-Instruct, about 110 MiB) to start chatting, or add a model folder you already have."
        )
        text.setWordWrap(True)
        layout.addWidget(text)
        row = QHBoxLayout()
        self.install_button = QPushButton("Install the default model")
        self.install_button.clicked.connect(self.install_requested)
        add = QPushButton("Add model folder…")
        add.clicked.connect(self.add_folder_requested)
        row.addWidget(self.install_button)
        row.addWidget(add)
        row.addStretch(1)
        layout.addLayout(row)
