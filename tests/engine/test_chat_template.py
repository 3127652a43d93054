"""A model's chat template is code from a download: bounded in size and time, cancellable,
and every failure a readable ``ChatTemplateError``, in the engine and through ``hearth-cli``."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from engine.cli import main
from engine.core.errors import ChatTemplateError
from engine.runtime import chat_template
from engine.runtime.chat_template import RenderCancelled
from engine.runtime.tokenizer import TextCodec
from tests.engine.hostile import bounded
from tests.engine.tiny_models import tiny_models_dir

MESSAGES = [{"role": "user", "content": "Why is the sky blue?"}]


def _tiny(layout: str) -> Path:
    folder = tiny_models_dir() / layout
    if not (folder / "tokenizer.json").is_file():
        pytest.skip("tiny models are not built")
    return folder


def _codec(tmp_path: Path, template: str) -> TextCodec:
    folder = tmp_path / "tok"
    folder.mkdir(exist_ok=True)
    shutil.copy(_tiny("hf") / "tokenizer.json", folder)
    config = json.loads((_tiny("hf") / "tokenizer_config.json").read_text(encoding="utf-8"))
    config["chat_template"] = template
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return TextCodec(folder)


def test_string_multiplication_is_capped_before_it_is_built(tmp_path: Path) -> None:
    codec = _codec(tmp_path, "{{ 'a' * 30000000 }}")
    with pytest.raises(ChatTemplateError, match=r"tried to build a string of 30,000,000 characters"):
        bounded(lambda: codec.render_chat(MESSAGES), timeout=30)


def test_nested_range_loops_stop_at_the_time_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chat_template, "RENDER_SECONDS", 1.0)
    codec = _codec(tmp_path, "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}")
    with pytest.raises(ChatTemplateError, match=r"ran for over 1 s and was stopped"):
        _, seconds = bounded(lambda: codec.render_chat(MESSAGES), timeout=30)


def test_rendering_can_be_cancelled(tmp_path: Path) -> None:
    codec = _codec(tmp_path, "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}")
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    with pytest.raises(RenderCancelled):
        bounded(lambda: codec.render_chat(MESSAGES, cancel=cancel), timeout=30, cancel=cancel)


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ 2 ** 100000000 }}", "power too large"),
        ("{{ 'a' | center(300000000) }}", "passes 300,000,000 to a function"),
        ("{{ 'x'.ljust(300000000) }}", "passes 300,000,000 to a function"),
        ("{{ '%0999999999d' % 1 }}", "width too large"),
        ("{{ '{:>999999999}'.format(1) }}", "width too large"),
        ("{% set ns = namespace(x='ab') %}{% for i in range(60) %}{% set ns.x = ns.x ~ ns.x %}{% endfor %}", "string of"),
        ("{% set ns = namespace(x='ab') %}{% for i in range(60) %}{% set ns.x = ns.x + ns.x %}{% endfor %}", "string of"),
        ("{{ ('a' * 100000) | replace('', 'b' * 100000) }}", "string of"),
        ("{% for i in range(100000) %}{{ 'x' * 100000 }}{% endfor %}", "a prompt of"),
        ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "recursed too deeply"),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "tried to reach outside its sandbox"),
        ("{{ raise_exception('Conversation roles must alternate') }}", "failed: Conversation roles must alternate"),
    ],
)
def test_hostile_templates_fail_fast_with_a_clear_message(tmp_path: Path, template: str, message: str) -> None:
    codec = _codec(tmp_path, template)
    with pytest.raises(ChatTemplateError, match=message) as caught:
        bounded(lambda: codec.render_chat(MESSAGES), timeout=30)
    assert "chat_template" in str(caught.value) or "failed:" in str(caught.value)


def test_real_templates_render_exactly_as_plain_jinja(default_model_dir: Path) -> None:
    codec = TextCodec(default_model_dir)
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi " * 2000},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Again?"},
    ]
    plain = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True).from_string(codec.chat_template)
    expected = plain.render(messages=messages, add_generation_prompt=True, bos_token=codec.bos_token or "",
                            eos_token=codec.eos_token or "")
    assert codec.render_chat(messages) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ messages.__class__.__mro__ }}", "tried to reach outside its sandbox"),
        ("{{ 'a' * 300000000 }}", "tried to build a string of 300,000,000 characters"),
    ],
)
def test_cli_reports_a_hostile_template_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], template: str, message: str
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(_tiny("genai"), folder)
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    config["chat_template"] = template
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    code = main(["generate", "Why is the sky blue?", "--model", str(folder), "--max-new-tokens", "2"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: The model's chat template ") and message in err
    assert "Traceback" not in err
