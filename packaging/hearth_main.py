"""PyInstaller entry point: the frozen app runs ``app.main:main`` (the ``hearth`` command)."""

import sys

from app.main import main

if __name__ == "__main__":
    sys.exit(main())
