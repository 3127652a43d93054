"""`hearth-cli serve --speculate lookup`: the official openai client gets the same greedy text (fp32 model)."""

from __future__ import annotations

import pytest
from openai import OpenAI

from tests.engine.serve_process import serve

pytestmark = pytest.mark.slow
COPY = ("Repeat this list exactly, one item per line:\napples, pears, plums, cherries, grapes, lemons, limes, "
        "oranges, peaches, apricots, figs, dates, melons, mangoes, kiwis, berries")


def _answer(served) -> str:
    client = OpenAI(base_url=f"{served.base}/v1", api_key="unused", max_retries=0, timeout=120)
    model = client.models.list().data[0].id
    reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": COPY}],
                                           max_tokens=40, temperature=0)
    return reply.choices[0].message.content


def test_a_lone_request_with_lookup_gives_the_same_greedy_text(fp32_model_dir):
    with serve(fp32_model_dir, "--parallel", "2") as plain:
        expected = _answer(plain)
    with serve(fp32_model_dir, "--parallel", "2", "--speculate", "lookup") as speculative:
        assert _answer(speculative) == expected
    assert expected.strip()


def test_the_apps_lookup_setting_reaches_its_running_server(default_model_dir):
    from engine.core.events import LoadOptions
    from engine.serving.local_chat import ServingBackend
    from tests.engine.serve_process import free_port

    backend = ServingBackend()
    backend.load(str(default_model_dir), LoadOptions(context_length=512, threads=1, slots=2))
    backend.set_speculation("lookup")
    try:
        backend.start_server(free_port(), "")
        scheduler = backend._server.scheduler
        assert scheduler.lookup  # started with the app's setting
        backend.set_speculation("off")
        assert not scheduler.lookup  # and follows it while serving
    finally:
        backend.close()
