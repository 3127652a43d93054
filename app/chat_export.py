"""Export chats to Markdown or JSON, and import a JSON export back. No Qt.

JSON format (``"format": "hearth-chats"``, ``"version": 1``), one file for one chat or many::

    {
      "format": "hearth-chats",
      "version": 1,
      "exported": "2025-01-31T12:00:00Z",          # UTC, ISO 8601
      "settings": {                                 # the sampling and runtime settings in use
        "system_prompt": "...", "temperature": 0.7, "top_k": 40, "top_p": 0.95, "min_p": 0.05,
        "repetition_penalty": 1.1, "max_new_tokens": 512, "seed": -1, "context_length": 4096,
        "overflow_policy": "drop_oldest", "provider": "auto", "threads": 0
      },
      "conversations": [
        {
          "title": "Trip to Lisbon",
          "updated": 1738324800.0,                  # seconds since the epoch
          "preset": "Concise",                      # the chat's preset, or null
          "messages": [
            {"role": "user", "content": "...", "attachments": [
                {"name": "plan.pdf", "path": "/home/me/plan.pdf", "kind": "pdf", "text": "...",
                 "spans": [[0, 120, 1, 1]], "tokens": 31}]},
            {"role": "assistant", "content": "...", "model": "SmolLM2-135M-Instruct",
             "finish_reason": "stop", "complete": true,
             "figures": {"ttft_s": 0.03, "prefill_tps": 900.0, "decode_tps": 41.2, "prompt_tokens": 71,
                         "cached_tokens": 69, "generated_tokens": 40, "finish_reason": "stop"}}
          ]
        }
      ]
    }

Only ``format``, ``version``, ``conversations``, and each message's ``role`` and ``content``
are required on import; everything else is optional. Importing adds new chats and never
changes the ones already there.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from app.store import Attachment, Store

FORMAT = "hearth-chats"
VERSION = 1
ROLES = ("user", "assistant", "system")


class ChatFileError(ValueError):
    """A file that is not a Hearth chat export; the message says what is wrong."""


def export_data(store: Store, conversation_ids: Iterable[int], settings: dict[str, Any],
                presets: dict[str, str] | None = None) -> dict[str, Any]:
    """The JSON document for ``conversation_ids`` (see the module docstring)."""
    presets = presets or {}
    chats = []
    for cid in conversation_ids:
        conversation = store.conversation(cid)
        if conversation is None:
            continue
        messages = []
        for m in store.messages(cid):
            item: dict[str, Any] = {"role": m.role, "content": m.content}
            if m.role == "assistant":
                item.update(model=m.model, finish_reason=m.finish_reason, complete=m.complete, figures=m.stats)
            if m.attachments:
                item["attachments"] = [{"name": a.name, "path": a.path, "kind": a.kind, "text": a.text,
                                        "spans": [list(s) for s in a.spans], "tokens": a.tokens}
                                       for a in m.attachments]
            messages.append(item)
        chats.append({"title": conversation.title, "updated": conversation.updated,
                      "preset": presets.get(str(cid)), "messages": messages})
    return {"format": FORMAT, "version": VERSION, "exported": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "settings": settings, "conversations": chats}


def to_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


def to_markdown(data: dict[str, Any]) -> str:
    """A readable document: one section per chat, the settings, and each reply's figures."""
    out = [f"# Hearth chats, exported {data['exported']}", ""]
    settings = data.get("settings") or {}
    if settings:
        out += ["## Settings", ""] + [f"- **{k}**: {_inline(v)}" for k, v in settings.items()] + [""]
    for chat in data["conversations"]:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(chat.get("updated") or 0))
        out += [f"## {chat['title']}", "", f"*Last updated {when}*"
                + (f" · preset *{chat['preset']}*" if chat.get("preset") else ""), ""]
        for m in chat["messages"]:
            who = {"user": "You", "assistant": m.get("model") or "Assistant"}.get(m["role"], m["role"].title())
            out += [f"### {who}", "", m["content"] or "*(empty)*", ""]
            for a in m.get("attachments", []):
                out.append(f"> Attached: {a['name']} ({a.get('tokens', 0):,} tokens)")
            if m.get("attachments"):
                out.append("")
            figures = _figures_line(m.get("figures") or {})
            if figures:
                out += [f"*{figures}*", ""]
    return "\n".join(out).rstrip() + "\n"


def _inline(value: Any) -> str:
    text = str(value).replace("\n", " ")
    return f"`{text}`" if text else "*(empty)*"


def _figures_line(f: dict[str, Any]) -> str:
    parts = []
    if f.get("ttft_s") is not None:
        parts.append(f"TTFT {f['ttft_s'] * 1000:.0f} ms")
    if f.get("prefill_tps"):
        parts.append(f"prefill {f['prefill_tps']:.0f} tok/s")
    if f.get("decode_tps"):
        parts.append(f"decode {f['decode_tps']:.1f} tok/s")
    if f.get("generated_tokens") is not None:
        parts.append(f"{f['generated_tokens']} tokens")
    if f.get("prompt_tokens") is not None:
        parts.append(f"cached {f.get('cached_tokens') or 0}/{f['prompt_tokens']}")
    if f.get("finish_reason"):
        parts.append(str(f["finish_reason"]))
    return " · ".join(parts)


def parse(text: str) -> dict[str, Any]:
    """Check an export's shape; ``ChatFileError`` names the first problem."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ChatFileError(f"The file is not JSON ({str(exc)[:120]}).") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ChatFileError("The file is not a Hearth chat export (its \"format\" is not \"hearth-chats\").")
    if not isinstance(data.get("version"), int) or data["version"] > VERSION:
        raise ChatFileError(f"The export is version {data.get('version')!r}; this Hearth reads version {VERSION}.")
    chats = data.get("conversations")
    if not isinstance(chats, list):
        raise ChatFileError("The export has no list of conversations.")
    for n, chat in enumerate(chats, 1):
        if not isinstance(chat, dict) or not isinstance(chat.get("messages"), list):
            raise ChatFileError(f"Conversation {n} has no list of messages.")
        for m in chat["messages"]:
            if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
                raise ChatFileError(f"Conversation {n} has a message without a valid role and text.")
    return data


def import_data(store: Store, data: dict[str, Any]) -> list[tuple[int, str | None]]:
    """Add each chat of a parsed export as a new chat; returns ``(new id, preset)`` pairs."""
    added = []
    for chat in data["conversations"]:
        title = str(chat.get("title") or "Imported chat")[:200]
        cid = store.create_conversation(title)
        for m in chat["messages"]:
            attachments = tuple(_attachment(a) for a in m.get("attachments", []) if isinstance(a, dict))
            mid = store.add_message(cid, m["role"], m["content"], str(m.get("model") or ""), True, attachments)
            figures = m.get("figures")
            if m["role"] == "assistant" and (isinstance(figures, dict) or m.get("finish_reason")):
                store.update_message(mid, m["content"], figures if isinstance(figures, dict) else {},
                                     m.get("finish_reason"), complete=bool(m.get("complete", True)))
        preset = chat.get("preset")
        added.append((cid, preset if isinstance(preset, str) else None))
    return added


def _attachment(a: dict[str, Any]) -> Attachment:
    spans = tuple(tuple(int(x) for x in s) for s in a.get("spans", []) if isinstance(s, list) and len(s) == 4)
    return Attachment(str(a.get("name", "attachment")), str(a.get("path", "")), str(a.get("kind", "text")),
                      str(a.get("text", "")), spans, int(a.get("tokens", 0)))  # type: ignore[arg-type]
