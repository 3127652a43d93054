"""Engine fixtures: the real default model, loaded once per session."""

from __future__ import annotations

import pytest

from engine.core.events import LoadOptions
from engine.runtime.model import LoadedModel, load_model


@pytest.fixture(scope="session")
def loaded_model(default_model_dir) -> LoadedModel:
    return load_model(default_model_dir, LoadOptions(threads=2, context_length=2048))


@pytest.fixture
def model(loaded_model: LoadedModel) -> LoadedModel:
    """The shared model with an empty cache, so tests don't see each other's prefixes."""
    loaded_model.runner.reset()
    return loaded_model
