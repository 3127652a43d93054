"""PyInstaller entry point: the frozen app runs ``app.main:main`` (the ``hearth`` command).

``hearth --engine-cli ARGS`` runs ``hearth-cli ARGS`` instead: the bundle has no Python
to start ``-m engine.cli`` with, and the Benchmark window runs each configuration in such
a child (app/bench_runner.py).
"""

import sys

if __name__ == "__main__":
    if sys.argv[1:2] == ["--engine-cli"]:
        from engine.cli import main as cli_main

        sys.exit(cli_main(sys.argv[2:]))
    from app.main import main

    sys.exit(main())
