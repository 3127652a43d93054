"""``python -m engine.convert hf-export SRC.gguf OUT_DIR``: the converter's child step."""

import sys
from pathlib import Path

from engine.convert.pipeline import _hf_export

if len(sys.argv) == 4 and sys.argv[1] == "hf-export":
    _hf_export(Path(sys.argv[2]), Path(sys.argv[3]))
else:
    sys.exit("usage: python -m engine.convert hf-export SRC.gguf OUT_DIR")
