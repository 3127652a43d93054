"""The overflow policies, applied before prefill."""

from __future__ import annotations

import re

import pytest

from engine.core.errors import ContextOverflowError
from engine.generation.chat import fit_messages


def _history(turns):
    messages = [{"role": "system", "content": "You are Hearth."}]
    for i in range(turns):
        messages.append({"role": "user", "content": f"Question {i}: " + "tell me more about fire. " * 10})
        messages.append({"role": "assistant", "content": f"Answer {i}: " + "fire is hot and bright. " * 10})
    messages.append({"role": "user", "content": "Last question?"})
    return messages


def test_fitting_chat_is_untouched(loaded_model):
    codec = loaded_model.codec
    fitted = fit_messages(codec, _history(1), 2048, 64, "stop")
    assert fitted.ids == codec.encode_chat(_history(1)) and fitted.dropped_messages == 0


def test_stop_policy_refuses_with_advice(loaded_model):
    with pytest.raises(ContextOverflowError, match="overflow policy"):
        fit_messages(loaded_model.codec, _history(10), 256, 64, "stop")


def test_drop_oldest_keeps_system_prompt_and_last_question(loaded_model):
    codec = loaded_model.codec
    fitted = fit_messages(codec, _history(10), 512, 64, "drop_oldest")
    text = codec.decode(fitted.ids, skip_special_tokens=False)
    assert len(fitted.ids) <= 512 - 64 and fitted.dropped_messages > 0
    assert fitted.dropped_messages % 2 == 0  # whole turns go
    assert "You are Hearth." in text and "Last question?" in text and "Question 0" not in text


def test_truncate_middle_keeps_both_ends(loaded_model):
    codec = loaded_model.codec
    fitted = fit_messages(codec, _history(10), 512, 64, "truncate_middle")
    text = codec.decode(fitted.ids, skip_special_tokens=False)
    assert len(fitted.ids) <= 512 - 64 and fitted.truncated_tokens > 0
    assert text.startswith("<|im_start|>system\nYou are Hearth.") and text.endswith("Last question?<|im_end|>\n<|im_start|>assistant\n")


def _turns(text: str) -> list[tuple[str, str]]:
    """Each templated message of ``text`` as (role, content); fails on a broken marker."""
    assert text.endswith("<|im_start|>assistant\n"), text[-80:]
    body = text[: -len("<|im_start|>assistant\n")]
    assert body.count("<|im_start|>") == body.count("<|im_end|>"), "a role marker was cut"
    turns = re.findall(r"<\|im_start\|>(\w+)\n(.*?)<\|im_end\|>\n", body, flags=re.S)
    assert "".join(f"<|im_start|>{r}\n{c}<|im_end|>\n" for r, c in turns) == body, "text outside the markers"
    return turns


@pytest.mark.parametrize("context", [300, 512, 900])
def test_truncate_middle_keeps_every_role_marker(loaded_model, context):
    codec = loaded_model.codec
    messages = _history(10)
    fitted = fit_messages(codec, messages, context, 64, "truncate_middle")
    assert len(fitted.ids) <= context - 64 and fitted.truncated_tokens > 0
    turns = _turns(codec.decode(fitted.ids, skip_special_tokens=False))
    assert [r for r, _ in turns] == [m["role"] for m in messages]  # every message, roles in order
    assert turns[0][1] == "You are Hearth." and turns[-1][1] == "Last question?"  # both ends whole


def test_truncate_middle_cuts_a_lone_long_message_inside_its_content(loaded_model):
    codec = loaded_model.codec
    messages = [{"role": "system", "content": "You are Hearth."},
                {"role": "user", "content": "Start here. " + "fire is hot and bright. " * 200 + "End here?"}]
    fitted = fit_messages(codec, messages, 256, 64, "truncate_middle")
    assert len(fitted.ids) <= 256 - 64
    turns = _turns(codec.decode(fitted.ids, skip_special_tokens=False))
    assert [r for r, _ in turns] == ["system", "user"] and turns[0][1] == "You are Hearth."
    assert turns[1][1].startswith("Start here.") and turns[1][1].endswith("End here?")
