"""Chat on top of ``stream_generate``: templating, the overflow policy, and a session.

The overflow policy is applied before prefill, so a long chat never crashes and
never silently loses the system prompt:
- ``stop``: refuse with a ``ContextOverflowError`` that says what to do.
- ``drop_oldest``: drop the oldest turns, keeping the system prompt.
- ``truncate_middle``: keep the start (system prompt) and the end, cut message contents between
  and template again, so every message keeps its role markers.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator, Sequence
from collections.abc import Sequence as Ids
from dataclasses import dataclass

from engine.core.errors import ContextOverflowError
from engine.core.events import GenerationEvent, OverflowPolicy, SamplingParams
from engine.generation.generate import ProgressCallback, stream_generate
from engine.generation.speculative import Proposer, speculative_generate
from engine.runtime.chat_template import RenderCancelled, cancel_scope
from engine.runtime.model import LoadedModel
from engine.runtime.tokenizer import TextCodec

Message = dict[str, str]

_CUT_MARK = " [...] "  # stands where truncate_middle removed text
_FIT_ATTEMPTS = 8


@dataclass(frozen=True)
class FittedPrompt:
    """The token ids to send, and what the overflow policy removed to get them.

    ``messages`` are the messages the ids were templated from (after any drop or cut).
    """

    ids: list[int]
    dropped_messages: int = 0
    truncated_tokens: int = 0
    messages: tuple[Message, ...] = ()


def reply_reserve(params: SamplingParams, context: int) -> int:
    """Room kept free for the answer when a policy has to make space."""
    return max(1, min(params.max_new_tokens, context // 4))


def fit_messages(
    codec: TextCodec, messages: Sequence[Message], context: int, reserve: int, policy: OverflowPolicy
) -> FittedPrompt:
    """Template ``messages`` and make them fit ``context - reserve`` tokens under ``policy``."""
    ids = codec.encode_chat(messages)
    if len(ids) + reserve <= context:
        return FittedPrompt(ids, messages=tuple(messages))
    if policy == "stop":
        if len(ids) < context:
            return FittedPrompt(ids, messages=tuple(messages))  # fits, with less room for the reply
        raise ContextOverflowError(
            f"This chat is {len(ids)} tokens and the context holds {context}. "
            "Start a new chat, raise the context length, or pick another overflow policy in settings."
        )
    budget = context - reserve
    if policy == "drop_oldest":
        return _drop_oldest(codec, list(messages), budget)
    if policy == "truncate_middle":
        return _truncate_middle(codec, messages, ids, budget)
    raise ValueError(f"unknown overflow policy {policy!r}")


def _drop_oldest(codec: TextCodec, messages: list[Message], budget: int) -> FittedPrompt:
    system = [m for m in messages[:1] if m["role"] == "system"]
    rest = messages[len(system) :]
    dropped = 0
    while len(rest) > 1:
        rest = rest[1:]
        dropped += 1
        # Never start the history on an assistant turn.
        while len(rest) > 1 and rest[0]["role"] == "assistant":
            rest = rest[1:]
            dropped += 1
        ids = codec.encode_chat(system + rest)
        if len(ids) <= budget:
            return FittedPrompt(ids, dropped_messages=dropped, messages=tuple(system + rest))
    ids = codec.encode_chat(system + rest)
    if len(ids) <= budget:
        return FittedPrompt(ids, dropped_messages=dropped, messages=tuple(system + rest))
    # The last message alone is too long: cut its middle rather than fail.
    fitted = _truncate_middle(codec, system + rest, ids, budget)
    return dataclasses.replace(fitted, dropped_messages=dropped)


def _truncate_middle(codec: TextCodec, messages: Sequence[Message], ids: list[int], budget: int) -> FittedPrompt:
    """Cut tokens out of the middle of the message contents, then template again.

    Cutting the templated ids would cut through role markers; cutting contents keeps
    every message whole in form. The system prompt and the newest message stay intact
    unless the cut cannot fit in the messages between them.
    """
    first = 1 if messages[0]["role"] == "system" else 0
    head = len(codec.encode_chat(messages[:1], add_generation_prompt=False)) if first else 0
    if budget - head < 16:
        raise ContextOverflowError(
            f"The system prompt alone is {head} tokens, too long for a context of {budget} usable tokens. "
            "Shorten the system prompt or raise the context length."
        )
    contents = [codec.encode(m["content"]) for m in messages]
    excess = len(ids) - budget
    for _ in range(_FIT_ATTEMPTS):
        cut = _cut_contents(codec, messages, contents, first, excess)
        if cut is None:
            break
        shortened = tuple({**m, "content": c} for m, c in zip(messages, cut))
        kept = codec.encode_chat(shortened)
        if len(kept) <= budget:
            return FittedPrompt(kept, truncated_tokens=len(ids) - len(kept), messages=shortened)
        # Re-encoding at the cut and the marker cost a few tokens more than counted.
        excess += len(kept) - budget + 2
    raise ContextOverflowError(
        f"This chat does not fit in {budget} usable tokens even with its middle cut out. "
        "Shorten the system prompt, raise the context length, or start a new chat."
    )


def _cut_contents(
    codec: TextCodec, messages: Sequence[Message], contents: list[list[int]], first: int, excess: int
) -> list[str] | None:
    """New contents with ``excess`` content tokens cut, or None if that leaves nothing of the newest message."""
    out = [m["content"] for m in messages]
    middle = list(range(first, len(messages) - 1))
    take = min(excess, sum(len(contents[i]) for i in middle))
    if take > 0:
        _cut_span(codec, contents, middle, take, out)
    rest = excess - take
    if rest > 0:
        last = len(messages) - 1
        if last < first or rest >= len(contents[last]):
            return None
        _cut_span(codec, contents, [last], rest, out)
    return out


def _cut_span(codec: TextCodec, contents: list[list[int]], indices: list[int], n: int, out: list[str]) -> None:
    """Remove the middle ``n`` tokens of the contents of ``indices`` (taken as one run), in ``out``."""
    total = sum(len(contents[i]) for i in indices)
    front = (total - n) // 2
    back = total - (total - n - front)  # tokens from here to the end stay
    start = 0
    for i in indices:
        tokens, end = contents[i], start + len(contents[i])
        if start < back and end > front:  # this message loses tokens
            before = tokens[: max(0, front - start)]
            after = tokens[max(0, back - start) :]
            out[i] = (codec.decode(before) + _CUT_MARK + codec.decode(after)).strip()
        start = end


def stream_chat(
    model: LoadedModel,
    messages: Sequence[Message],
    params: SamplingParams | None = None,
    policy: OverflowPolicy = "drop_oldest",
    cancel: threading.Event | None = None,
    on_prefill: ProgressCallback | None = None,
    continue_last: bool = False,
    proposer: Proposer | None = None,
    prefix_ids: Ids[int] | None = None,
) -> Iterator[GenerationEvent]:
    """Answer the last message of ``messages``; events report any messages dropped.

    With ``continue_last`` the last message is the assistant's unfinished reply (it hit
    max tokens): the prompt ends inside that reply, so the model carries on where it stopped.
    ``prefix_ids`` are that reply's exact token ids, used instead of encoding its text (see
    ``fit_reply_prompt``). With a ``proposer`` the reply is decoded speculatively.
    """
    params = params or SamplingParams()
    prompt = fit_reply_prompt(model, messages, params, policy, cancel, continue_last, prefix_ids)
    if prompt is None:
        return
    ids, fitted = prompt
    if proposer is None:
        events = stream_generate(model, ids, params, cancel, on_prefill)
    else:
        events = speculative_generate(model, ids, params, cancel, on_prefill, proposer)
    for event in events:
        if fitted.dropped_messages:
            event = dataclasses.replace(event, dropped_messages=fitted.dropped_messages)
        yield event


def fit_reply_prompt(
    model: LoadedModel,
    messages: Sequence[Message],
    params: SamplingParams,
    policy: OverflowPolicy,
    cancel: threading.Event | None,
    continue_last: bool = False,
    prefix_ids: Ids[int] | None = None,
) -> tuple[list[int], FittedPrompt] | None:
    """The prompt ids for answering ``messages`` under ``policy``; None if cancelled while templating.

    With ``continue_last`` the ids end inside the assistant's unfinished last message: its
    ``prefix_ids`` if given, else its text encoded. Encoding a reply's text can split it into
    other tokens than the model wrote (and a branch from a chosen token must end on that
    token), so a caller that kept the reply's ids passes them: the prompt then matches
    the cache token for token and only what changed is fed again.
    """
    context = model.runner.context_length
    partial: list[int] = []
    if prefix_ids is not None and not continue_last:
        raise ValueError("prefix_ids are the ids of the unfinished last reply: they need continue_last")
    if continue_last:
        if not messages or messages[-1]["role"] != "assistant":
            raise ValueError("continue_last needs the assistant's unfinished reply as the last message")
        partial = list(prefix_ids) if prefix_ids is not None else model.codec.encode(messages[-1]["content"])
        messages = messages[:-1]
    try:
        with cancel_scope(cancel):  # a template stuck in a loop must not outlast a Stop
            fitted = fit_messages(model.codec, list(messages), context,
                                  reply_reserve(params, context) + len(partial), policy)
    except RenderCancelled:
        return None
    return fitted.ids + partial, fitted


class ChatSession:
    """A conversation held in memory: send, regenerate, edit. The CLI's chat uses it."""

    def __init__(self, model: LoadedModel, system_prompt: str = "", policy: OverflowPolicy = "drop_oldest") -> None:
        self.model = model
        self.policy = policy
        self.messages: list[Message] = [{"role": "system", "content": system_prompt}] if system_prompt else []

    def send(self, text: str, params: SamplingParams | None = None, **kwargs) -> Iterator[GenerationEvent]:
        self.messages.append({"role": "user", "content": text})
        return self._answer(params, **kwargs)

    def regenerate(self, params: SamplingParams | None = None, **kwargs) -> Iterator[GenerationEvent]:
        """Answer the last user message again (the cache keeps everything before it)."""
        if self.messages and self.messages[-1]["role"] == "assistant":
            self.messages.pop()
        return self._answer(params, **kwargs)

    def edit(self, index: int, text: str, params: SamplingParams | None = None, **kwargs) -> Iterator[GenerationEvent]:
        """Replace user message ``index``, forget what followed, and answer it."""
        if self.messages[index]["role"] != "user":
            raise ValueError("only user messages can be edited")
        del self.messages[index:]
        return self.send(text, params, **kwargs)

    def _answer(self, params: SamplingParams | None, **kwargs) -> Iterator[GenerationEvent]:
        reply = []
        for event in stream_chat(self.model, self.messages, params, self.policy, **kwargs):
            reply.append(event.text)
            yield event
        self.messages.append({"role": "assistant", "content": "".join(reply)})
