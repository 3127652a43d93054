"""``hearth``: start the desktop app."""

from __future__ import annotations

import argparse
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hearth", description="Run language models locally.")
    parser.add_argument("--self-test", action="store_true",
                        help="start, load the default model, generate a few tokens, exit (for packaged builds)")
    args, qt_args = parser.parse_known_args(argv if argv is not None else sys.argv[1:])
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.self_test:
        from app.self_test import run

        return run()

    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.shutdown import run_until_quit

    app = QApplication([sys.argv[0], *qt_args])
    app.setApplicationName("Hearth")
    app.setOrganizationName("Hearth")
    app.setDesktopFileName("hearth")
    app.setWindowIcon(app_icon())
    window = MainWindow()
    window.show()
    return run_until_quit(app, window)


def app_icon():  # -> QIcon
    """Hearth's icon (assets/icon-*.png, rendered from assets/icon.svg) for the window and task bar."""
    from PySide6.QtGui import QIcon

    from app.theme import ASSETS

    icon = QIcon()
    for png in sorted(ASSETS.glob("icon-*.png")):
        icon.addFile(str(png))
    return icon


if __name__ == "__main__":
    sys.exit(main())
