"""Turn a request's stream of engine events into an OpenAI response: one JSON body, or SSE chunks.

SSE framing is OpenAI's: ``data: {json}\\n\\n`` per chunk, a usage chunk with empty
``choices`` when ``stream_options.include_usage`` asks for it, then
``data: [DONE]\\n\\n``. A client that goes away cancels its ticket, which frees the
slot at the scheduler's next step.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request

from engine.core.errors import EngineError
from engine.core.events import GenerationEvent, StepLogprobs
from engine.serving import protocol as p
from engine.serving.scheduler import Ticket

DISCONNECT_POLL_SECONDS = 0.25


async def collect(request: Request, events: asyncio.Queue[GenerationEvent], ticket: Ticket, model: str,
                  prompt_tokens: int, chat: bool) -> dict[str, Any]:
    """Wait for the whole reply; the client going away cancels it."""
    text, steps, last = [], [], None
    try:
        while last is None or last.finish_reason is None:
            try:
                last = await asyncio.wait_for(events.get(), DISCONNECT_POLL_SECONDS)
            except asyncio.TimeoutError:
                if await request.is_disconnected():
                    ticket.cancel.set()
                    raise asyncio.CancelledError from None
                continue
            text.append(last.text)
            if last.logprobs is not None:
                steps.append(last.logprobs)
    finally:
        if last is None or last.finish_reason is None:
            ticket.cancel.set()
    if last.finish_reason == "error":
        raise EngineError(last.error or "Generation failed.")
    content, reason = "".join(text), p.finish_reason(last)
    if chat:
        choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": content},
                                  "finish_reason": reason, "logprobs": p.chat_logprobs(steps) if steps else None}
        kind, prefix = "chat.completion", "chatcmpl"
    else:
        choice = {"index": 0, "text": content, "finish_reason": reason,
                  "logprobs": p.completion_logprobs(steps) if steps else None}
        kind, prefix = "text_completion", "cmpl"
    return {"id": p.new_id(prefix), "object": kind, "created": p.now(), "model": model, "choices": [choice],
            "usage": p.usage(prompt_tokens, last.generated_tokens)}


async def stream(events: asyncio.Queue[GenerationEvent], ticket: Ticket, model: str, prompt_tokens: int,
                 chat: bool, include_usage: bool) -> AsyncIterator[str]:
    """SSE chunks as the tokens come; the generator's closing (a disconnect) cancels the ticket."""
    ident, created = p.new_id("chatcmpl" if chat else "cmpl"), p.now()
    kind = "chat.completion.chunk" if chat else "text_completion"

    def chunk(choices: list[dict[str, Any]], **extra: Any) -> str:
        body = {"id": ident, "object": kind, "created": created, "model": model, "choices": choices, **extra}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    def choice(text: str | None, reason: str | None, steps: StepLogprobs | None, role: bool = False) -> dict:
        logprobs = None
        if steps is not None:
            logprobs = p.chat_logprobs([steps]) if chat else p.completion_logprobs([steps])
        if chat:
            delta: dict[str, Any] = {"role": "assistant"} if role else {}
            if text is not None:
                delta["content"] = text
            return {"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": reason}
        return {"index": 0, "text": text or "", "logprobs": logprobs, "finish_reason": reason}

    done = False
    try:
        if chat:
            yield chunk([choice("", None, None, role=True)])
        while True:
            event = await events.get()
            if event.finish_reason == "error":
                done = True
                error = p.OpenAIError(500, event.error or "Generation failed.", type_="server_error")
                yield f"data: {json.dumps(error.body())}\n\n"
                break
            if event.text or event.logprobs is not None:
                yield chunk([choice(event.text, None, event.logprobs)])
            if event.finish_reason is not None:
                done = True
                yield chunk([choice(None if chat else "", p.finish_reason(event), None)])
                if include_usage:
                    yield chunk([], usage=p.usage(prompt_tokens, event.generated_tokens))
                break
        yield "data: [DONE]\n\n"
    finally:
        if not done:  # the client went away mid-stream
            ticket.cancel.set()
