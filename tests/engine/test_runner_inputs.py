"""The runner holds only the current run's input arrays, however long it decodes.

The binding points into those arrays until the next run, so they must stay alive, but
only until then: a list that grew by one array per token leaked memory for the whole
conversation on graphs fed ``position_ids`` (the optimum layout).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.core.events import LoadOptions
from engine.runtime.model import load_model
from tests.engine.tiny_models import tiny_models_fixture  # noqa: F401 - the tiny_models fixture


def test_decoding_keeps_at_most_one_runs_inputs(tiny_models: Path) -> None:
    model = load_model(tiny_models / "optimum", LoadOptions(context_length=256))
    runner = model.runner
    assert runner.spec.has_position_ids  # the layout that used to leak
    logits = runner.forward(model.codec.encode("The hearth keeps the house warm"))
    for _ in range(50):
        logits = runner.forward([int(np.argmax(logits[-1] if logits.ndim == 2 else logits))])
    assert len(runner._keep) <= 2
