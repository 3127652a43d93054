"""The HTTP layer: OpenAI JSON in, engine requests to the scheduler, OpenAI JSON and SSE out.

Routes only translate. The scheduler decides what runs; the runner knows only
tensors. Every failure leaves in OpenAI's error shape with its status code.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ValidationError

from engine.core.errors import ChatTemplateError, ContextOverflowError, EngineError, InvalidSamplingError
from engine.core.events import GenerationEvent
from engine.core.limits import SAMPLING_LIMITS
from engine.serving import protocol as p
from engine.serving.answers import collect, stream
from engine.serving.embeddings import EmbeddingService
from engine.serving.scheduler import QueueFullError, Scheduler, SchedulerStoppedError

MAX_BODY_BYTES = 4 * 2**20


class ServerState:
    """What the routes need; ``scheduler`` is None while the model (re)loads."""

    def __init__(self, model_name: str, api_key: str | None, allowed_hosts: set[str] | None,
                 embeddings: EmbeddingService | None = None) -> None:
        self.model_name = model_name
        self.api_key = api_key
        self.allowed_hosts = allowed_hosts  # None: any Host (a token is then required)
        self.scheduler: Scheduler | None = None
        self.embeddings = embeddings or EmbeddingService()


def create_app(state: ServerState, cors_origins: tuple[str, ...] = ()) -> FastAPI:
    app = FastAPI(title="Hearth", docs_url=None, redoc_url=None, openapi_url=None)
    if cors_origins:  # off unless origins are allowed explicitly
        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])

    @app.exception_handler(p.OpenAIError)
    async def _openai_error(_request: Request, exc: p.OpenAIError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.middleware("http")
    async def _guard(request: Request, call_next: Callable) -> Response:
        try:
            _check_host(state, request)
            if request.url.path.startswith("/v1/"):
                _check_token(state, request)
        except p.OpenAIError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        return await call_next(request)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok" if state.scheduler is not None else "loading"}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        entry: dict[str, Any] = {"id": state.model_name, "object": "model", "created": p.now(), "owned_by": "hearth"}
        scheduler = state.scheduler
        if scheduler is not None:  # vLLM's field name, which clients (Hearth's remote backend) read
            entry["max_model_len"] = scheduler.model.runner.context_length
        listed = [entry]
        embedder = state.embeddings.model_name
        if embedder is not None:  # after the chat model: clients that take the first model still chat
            listed.append({"id": embedder, "object": "model", "created": p.now(), "owned_by": "hearth"})
        return {"object": "list", "data": listed}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        body = await _parse(request, p.ChatCompletionRequest)
        scheduler = _ready(state, body.model)
        codec = scheduler.model.codec
        try:
            prompt = codec.encode_chat([{"role": "system" if m.role == "developer" else m.role, "content": m.text()}
                                        for m in body.messages])
        except ChatTemplateError as exc:
            raise p.OpenAIError(400, str(exc), param="messages") from None
        wanted = body.max_completion_tokens or body.max_tokens
        params = body.sampling(_room(scheduler, prompt, wanted), body.logprobs, body.top_logprobs or 0)
        return await _answer(request, scheduler, state, prompt, params, body, chat=True)

    @app.post("/v1/completions")
    async def completions(request: Request) -> Response:
        body = await _parse(request, p.CompletionRequest)
        scheduler = _ready(state, body.model)
        prompt = scheduler.model.codec.encode(body.prompt)
        if not prompt:
            raise p.OpenAIError(400, "The prompt is empty.", param="prompt")
        top = body.logprobs or 0
        params = body.sampling(_room(scheduler, prompt, body.max_tokens), body.logprobs is not None, top)
        return await _answer(request, scheduler, state, prompt, params, body, chat=False)

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> Response:
        body = await _parse(request, p.EmbeddingRequest)
        return JSONResponse(await state.embeddings.answer(body, state.model_name))

    return app


# -- checks ---------------------------------------------------------------------------------
def _check_host(state: ServerState, request: Request) -> None:
    # A page on another site can resolve its own name to 127.0.0.1 (DNS rebinding);
    # its requests then carry that name as Host, which is not ours.
    host = request.headers.get("host", "")
    if state.allowed_hosts is not None and host not in state.allowed_hosts:
        raise p.OpenAIError(400, f"Requests must be addressed to this server, not to {host!r}.",
                            param="Host", code="invalid_host")


def _check_token(state: ServerState, request: Request) -> None:
    if not state.api_key:
        return
    given = request.headers.get("authorization", "")
    expected = f"Bearer {state.api_key}"
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise p.OpenAIError(401, "Missing or wrong API key: send 'Authorization: Bearer <key>'.",
                            type_="authentication_error", code="invalid_api_key")


async def _parse(request: Request, model: type[BaseModel]) -> Any:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise p.OpenAIError(413, f"The request body is over {MAX_BODY_BYTES // 2**20} MiB.", code="body_too_large")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise p.OpenAIError(413, f"The request body is over {MAX_BODY_BYTES // 2**20} MiB.",
                                code="body_too_large")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise p.OpenAIError(400, "The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise p.OpenAIError(400, "The request body must be a JSON object.")
    try:
        body = model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        param = ".".join(str(part) for part in error["loc"]) or None
        raise p.OpenAIError(400, f"Invalid '{param}': {error['msg']}.", param=param) from None
    body.refuse_unsupported()
    return body


def _ready(state: ServerState, model: str) -> Scheduler:
    scheduler = state.scheduler
    if scheduler is None:
        raise p.OpenAIError(503, "The model is loading; try again in a moment.", type_="server_error",
                            code="model_loading")
    if model != state.model_name:
        raise p.OpenAIError(404, f"The model '{model}' does not exist; this server has '{state.model_name}'.",
                            param="model", code="model_not_found")
    return scheduler


def _room(scheduler: Scheduler, prompt: list[int], wanted: int | None) -> int:
    """The reply's token budget: what was asked, capped by what the context has left."""
    room = scheduler.model.runner.context_length - len(prompt)
    if room <= 0:
        raise p.OpenAIError(400, f"The prompt is {len(prompt)} tokens; the context holds "
                            f"{scheduler.model.runner.context_length}.", param="messages",
                            code="context_length_exceeded")
    return min(wanted or room, room, int(SAMPLING_LIMITS["max_new_tokens"].high))


# -- answering ------------------------------------------------------------------------------
async def _answer(request: Request, scheduler: Scheduler, state: ServerState, prompt: list[int], params,
                  body: Any, chat: bool) -> Response:
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[GenerationEvent] = asyncio.Queue()
    try:
        ticket = scheduler.submit(prompt, params, lambda e: loop.call_soon_threadsafe(events.put_nowait, e))
    except QueueFullError as exc:
        raise p.OpenAIError(429, str(exc), type_="rate_limit_error", code="queue_full") from None
    except SchedulerStoppedError as exc:
        raise p.OpenAIError(503, str(exc), type_="server_error") from None
    except ContextOverflowError as exc:
        raise p.OpenAIError(400, str(exc), param="messages", code="context_length_exceeded") from None
    except InvalidSamplingError as exc:
        raise p.OpenAIError(400, str(exc)) from None
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        chunks: AsyncIterator[str] = stream(events, ticket, state.model_name, len(prompt), chat, include_usage)
        return StreamingResponse(chunks, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
    try:
        return JSONResponse(await collect(request, events, ticket, state.model_name, len(prompt), chat))
    except EngineError as exc:
        raise p.OpenAIError(500, str(exc), type_="server_error") from None
