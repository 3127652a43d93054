"""Named presets: a system prompt plus sampling values, chosen per chat. No Qt.

Presets are kept in settings.json (``AppSettings.presets``, and ``chat_presets`` for each
chat's choice, keyed by conversation id), not in the database: no schema change is needed,
and a preset is a setting like the others. A chat's snapshot is the model's settings with
the chat's preset laid over them; load-time values (context, provider, threads) never come
from a preset.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

from app.settings import AppSettings, ModelSettings, check_value

PRESET_FIELDS = ("system_prompt", "temperature", "top_k", "top_p", "min_p", "repetition_penalty",
                 "max_new_tokens", "seed")


def values_of(settings: ModelSettings) -> dict[str, Any]:
    """What a preset saved from ``settings`` holds."""
    return {k: v for k, v in asdict(settings).items() if k in PRESET_FIELDS}


def save_preset(settings: AppSettings, name: str, values: dict[str, Any]) -> None:
    name = name.strip()
    if not name:
        raise ValueError("A preset needs a name.")
    settings.presets[name] = {k: check_value(k, v) for k, v in values.items() if k in PRESET_FIELDS}


def delete_preset(settings: AppSettings, name: str) -> None:
    settings.presets.pop(name, None)
    settings.chat_presets = {k: v for k, v in settings.chat_presets.items() if v != name}


def choose(settings: AppSettings, conversation_id: int | None, name: str) -> None:
    """Remember ``name`` (or no preset, if empty) for the chat."""
    if conversation_id is None:
        return
    if name and name in settings.presets:
        settings.chat_presets[str(conversation_id)] = name
    else:
        settings.chat_presets.pop(str(conversation_id), None)


def chosen(settings: AppSettings, conversation_id: int | None) -> str:
    return settings.chat_presets.get(str(conversation_id), "") if conversation_id is not None else ""


def snapshot(settings: AppSettings, model: str | None, preset: str) -> ModelSettings:
    """The request's settings: the model's, with ``preset`` (if any) laid over them."""
    base = settings.for_model(model)
    values = settings.presets.get(preset)
    if not values:
        return base
    return replace(base, **{k: v for k, v in values.items() if k in PRESET_FIELDS})
