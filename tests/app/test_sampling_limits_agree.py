"""Every sampling limit is the same in the app's settings panel, hearth-cli and the engine.

For each field and each end of its range: the value at the bound is accepted by all three
exactly when the end is inclusive, the value just inside is accepted by all three, and the
value just past it is refused by all three.
"""

from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtCore import Qt

from app.main_window import MainWindow
from engine.cli.commands import build_parser
from engine.core.errors import InvalidSamplingError
from engine.core.events import SamplingParams
from engine.core.limits import SAMPLING_LIMITS
from engine.generation.sampling import validate
from tests.app.fakes import ScriptedBackend

# The sampling settings a person can set in all three places.
SHARED = {"temperature": "--temperature", "top_k": "--top-k", "top_p": "--top-p", "min_p": "--min-p",
          "repetition_penalty": "--repetition-penalty", "max_new_tokens": "--max-new-tokens", "seed": "--seed"}


def _probes(name: str) -> list[tuple[float, bool]]:
    """(value, allowed) at each end: the bound, just inside, just past."""
    limit = SAMPLING_LIMITS[name]
    step = 1 if limit.whole else 0.01
    return [(limit.low, limit.low_inclusive), (limit.low + step, True), (limit.low - step, False),
            (limit.high, limit.high_inclusive), (limit.high - step, True), (limit.high + step, False)]


def _text(value: float, whole: bool) -> str:
    return str(int(value)) if whole else f"{round(value, 6):g}"


def _engine_accepts(name: str, value: float) -> bool:
    try:
        validate(SamplingParams(**{name: value}))
    except InvalidSamplingError:
        return False
    return True


def _cli_accepts(name: str, text: str) -> bool:
    try:
        args = build_parser().parse_args(["generate", "hello", f"{SHARED[name]}={text}"])
    except SystemExit:
        return False
    return getattr(args, name) == float(text)


def _app_accepts(qtbot, w: MainWindow, name: str, text: str, value: float) -> bool:
    box = w.settings_panel.widgets[name]
    box.edit.selectAll()
    qtbot.keyClicks(box.edit, text)
    qtbot.keyClick(box.edit, Qt.Key.Key_Return)
    saved = getattr(w.settings.defaults, name) == value
    assert saved != box.error.isVisible(), "a value was both saved and refused, or neither"
    if saved:  # and the engine takes what the app sends with a request
        validate(w.settings.defaults.sampling())
    return saved


@pytest.mark.parametrize("name", SHARED)
def test_app_cli_and_engine_accept_the_same_values(qtbot, name):
    w = MainWindow(ScriptedBackend())
    qtbot.addWidget(w)
    w.show()
    limit = SAMPLING_LIMITS[name]
    for value, allowed in _probes(name):
        text = _text(value, limit.whole)
        # Start from a different valid value, so an accepted edit is seen being saved.
        other = limit.high - 2 if limit.whole else round((limit.low + limit.high) / 2, 2) + 0.01
        w.settings.defaults = dataclasses.replace(w.settings.defaults, **{name: type(value)(other)})
        verdicts = {"app": _app_accepts(qtbot, w, name, text, float(text)), "cli": _cli_accepts(name, text),
                    "engine": _engine_accepts(name, float(text) if not limit.whole else int(float(text)))}
        assert verdicts == dict.fromkeys(verdicts, allowed), f"{name}={text}: {verdicts}"
    w.close()


def test_engine_defaults_and_server_bounds_come_from_the_same_schema():
    params = SamplingParams()
    for name, limit in SAMPLING_LIMITS.items():
        assert getattr(params, name) == limit.default, name
        assert limit.default is None or limit.problem(limit.default) is None, name
    from engine.serving.protocol import ChatCompletionRequest

    for field, name in (("temperature", "temperature"), ("top_p", "top_p"), ("seed", "seed"),
                        ("max_tokens", "max_new_tokens"), ("top_logprobs", "top_logprobs")):
        limit = SAMPLING_LIMITS[name]
        step = 1 if limit.whole else 0.01
        for value, allowed in ((limit.low, limit.low_inclusive), (limit.high, limit.high_inclusive),
                               (limit.low - step, False), (limit.high + step, False)):
            body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], field: value}
            try:
                ChatCompletionRequest.model_validate(body)
                accepted = True
            except Exception:  # pydantic's ValidationError
                accepted = False
            assert accepted == allowed, f"{field}={value}"
