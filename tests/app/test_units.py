"""Issue 12, item 11: one unit for sizes (MiB, as hearth-cli prints), and the README names the database file."""

from __future__ import annotations

from pathlib import Path

from app.model_picker import ModelPicker, human_bytes
from app.store import default_path
from engine.documents.kinds import megabytes
from tests.app.fakes import fake_info

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_app_says_mib_like_the_cli(qtbot):
    size = 100_000_000  # the fake model: `hearth-cli info` prints f"{size / 2**20:.1f} MiB"
    assert human_bytes(size) == f"{size / 2**20:.1f} MiB" == "95.4 MiB"
    assert human_bytes(3 * 2**30) == "3.0 GiB" and human_bytes(2048) == "2 KiB"
    assert megabytes(60 * 2**20) == "60.0 MiB"
    picker = ModelPicker()
    qtbot.addWidget(picker)
    picker.set_models(["/nowhere"], "/nowhere")
    picker.set_info(fake_info())
    details = picker.details.text()
    assert "95.4 MiB on disk" in details and " MB" not in details and " GB" not in details


def test_readme_names_the_database_file():
    text = README.read_text(encoding="utf-8")
    assert default_path().name == "conversations.sqlite3"
    assert "conversations.sqlite3" in text and "conversations.db" not in text
    assert "MiB" in text
