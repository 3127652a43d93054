"""``python -m engine.cli ...``: the same commands as ``hearth-cli``."""

import sys

from engine.cli import main

sys.exit(main())
