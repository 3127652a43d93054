"""Where the context goes: the next prompt split into segments, in tokens, before it is sent.

``measure_budget`` composes the chat exactly as a send would (``compose`` fits the
documents, ``fit_messages`` applies the overflow policy), renders the model's chat
template for the messages that would be sent, and tokenizes that text once with
character offsets. Each token then belongs to the segment whose text holds its first
character, so the segments add up to the real prompt length by construction.

Segments: the system prompt, the earlier messages ("history", their documents
included), each document attached to the new message, the new message itself, and
"template": the chat template's role markers, any default system prompt the template
adds, and Hearth's framing around documents. Then the reply's reserve and free space.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from engine.core.errors import ContextOverflowError
from engine.core.events import OverflowPolicy, SamplingParams
from engine.documents import Document
from engine.documents.retrieval import EXCERPTS_INTRO, DenseScores
from engine.generation.chat import FittedPrompt, Message, fit_messages, reply_reserve
from engine.generation.prompt import DOCS_INTRO, ComposedPrompt, Turn, compose
from engine.runtime.tokenizer import TextCodec

SegmentKind = Literal["system", "history", "document", "message", "template", "reserve", "free"]
Key = tuple[str, int]  # (kind, document index; 0 for the other kinds)
_TEMPLATE: Key = ("template", 0)
_FOLLOW_UP: Key = ("follow-up", 0)  # a follow-up question's new excerpts of earlier documents
_SENTINEL = "\ue000{}\ue001"  # private-use characters no message holds


@dataclass(frozen=True)
class Segment:
    kind: SegmentKind
    label: str
    tokens: int
    detail: str = ""  # e.g. "pages 4-9 not included"


@dataclass(frozen=True)
class ContextBudget:
    """The split of the context for the next message.

    Attributes:
        context: The context length, in tokens.
        segments: The prompt's segments, then "reserve" and "free".
        prompt_tokens: Tokens of the prompt that would be sent (the prompt segments' sum).
        outcome: What sending does to make it fit ("" if nothing), in a sentence.
        sendable: False when the reply could not start.
    """

    context: int
    segments: tuple[Segment, ...]
    prompt_tokens: int
    outcome: str = ""
    sendable: bool = True


def measure_budget(
    codec: TextCodec,
    system_prompt: str,
    turns: Sequence[Turn],
    context: int,
    params: SamplingParams,
    policy: OverflowPolicy,
    count_tokens: Callable[[str], int] | None = None,
    dense: DenseScores | None = None,
) -> ContextBudget:
    """The budget of sending ``turns[-1]`` (the new message, with its documents) after the others.

    ``count_tokens`` (default: the codec's) counts for ``compose``; pass a cached one so
    each document is counted once however often the budget is measured. ``dense`` is the
    same scorer a send would use, so the excerpts measured are the ones sent.
    """
    count = count_tokens or (lambda text: len(codec.encode(text)))
    composed = compose(system_prompt, turns, count, context, params.max_new_tokens, dense)
    reserve = reply_reserve(params, context)
    refusal = ""
    try:
        fitted: FittedPrompt | None = fit_messages(codec, composed.messages, context, reserve, policy)
    except ContextOverflowError as exc:
        fitted, refusal = None, str(exc)
    sent = fitted.messages if fitted is not None else composed.messages
    pieces = _message_pieces(composed, turns)
    owners = _owners(composed.messages, sent)
    tokens = _attribute(codec, sent, [pieces[i] for i in owners], [composed.messages[i]["content"] for i in owners])
    prompt = sum(tokens.values())
    docs = turns[-1].documents if turns else ()
    segments = _prompt_segments(tokens, docs, composed.omitted)
    if fitted is None:
        outcome = f"Too long: the reply cannot start. {refusal}"
        return ContextBudget(context, segments + (Segment("reserve", "Reply", reserve), Segment("free", "Free", 0)),
                             prompt, outcome, sendable=False)
    room = max(0, min(reserve, context - prompt))
    outcome = _outcome(fitted, composed, sent, pieces, docs, room, reserve)
    tail = (Segment("reserve", "Reply", room), Segment("free", "Free", max(0, context - prompt - room)))
    return ContextBudget(context, segments + tail, prompt, outcome)


# -- which text belongs to which segment --------------------------------------------------


def _message_pieces(composed: ComposedPrompt, turns: Sequence[Turn]) -> list[list[tuple[Key, str]]]:
    """Per composed message, ``(segment, text)`` pieces whose texts join to its content."""
    messages = composed.messages
    first = len(messages) - len(turns)  # 1 with a system prompt, else 0
    out: list[list[tuple[Key, str]]] = [[(("system", 0), m["content"])] for m in messages[:first]]
    out += [[(("history", 0), m["content"])] for m in messages[first:-1]]
    if len(messages) > first:
        out.append(_new_message_pieces(messages[-1]["content"], turns[-1]))
    return out


def _new_message_pieces(content: str, turn: Turn) -> list[tuple[Key, str]]:
    """The new message: the framing, each document's part and the question (see ``compose``)."""
    head, tail = f"{DOCS_INTRO}\n\n", f"\n\n{turn.content}"
    if content == turn.content or not (content.startswith(head) and content.endswith(tail)):
        return [(("message", 0), content)]
    block = content[len(head) : len(content) - len(tail)]
    # Without documents of its own, a follow-up carries new excerpts of earlier ones (see compose).
    documents = _document_pieces(block, turn.documents) if turn.documents else [(_FOLLOW_UP, block)]
    return [(_TEMPLATE, head), *documents, (_TEMPLATE, "\n\n"), (("message", 0), turn.content)]


def _document_pieces(block: str, docs: Sequence[Document]) -> list[tuple[Key, str]]:
    """Split the documents' block at each document's first heading: ``--- name ---`` or ``[name, p. 3]``."""
    excerpts = block.startswith(EXCERPTS_INTRO)
    starts: list[tuple[int, int]] = []
    cursor = 0
    for index, doc in enumerate(docs):
        marker = f"\n\n[{doc.name}, " if excerpts else f"--- {doc.name} ---\n"
        at = block.find(marker, cursor)
        if at >= 0:
            at += 2 if excerpts else 0
            starts.append((at, index))
            cursor = at + 1
    if not starts:
        return [(_TEMPLATE, block)]
    pieces: list[tuple[Key, str]] = [(_TEMPLATE, block[: starts[0][0]])]
    ends = [s for s, _ in starts[1:]] + [len(block)]
    pieces += [(("document", index), block[start:end]) for (start, index), end in zip(starts, ends)]
    return pieces


def _owners(composed: Sequence[Message], sent: Sequence[Message]) -> list[int]:
    """For each sent message, the composed message it came from (drops remove the oldest turns)."""
    system = 1 if composed and composed[0]["role"] == "system" else 0
    rest = len(sent) - system
    return list(range(system)) + list(range(len(composed) - rest, len(composed)))


def _spans_in(content: str, original: str, pieces: list[tuple[Key, str]]) -> list[tuple[int, int, Key]]:
    """``(start, end, segment)`` over ``content``, which is ``original`` with at most its middle cut.

    The common head and tail keep their pieces; the cut (its marker and re-decoded edges)
    belongs to the piece where the cut began.
    """
    limit = min(len(content), len(original))
    head = 0
    while head < limit and content[head] == original[head]:
        head += 1
    tail = 0
    while tail < limit - head and content[-1 - tail] == original[-1 - tail]:
        tail += 1
    bounds, at = [], 0
    for key, text in pieces:
        bounds.append((at, at + len(text), key))
        at += len(text)

    def key_at(offset: int) -> Key:
        return next((k for s, e, k in bounds if s <= offset < e), bounds[-1][2] if bounds else _TEMPLATE)

    spans = [(max(s, 0), min(e, head), k) for s, e, k in bounds if s < head]
    if len(content) - tail > head:
        spans.append((head, len(content) - tail, key_at(head)))
    shift = len(content) - len(original)
    spans += [(max(s, len(original) - tail) + shift, e + shift, k) for s, e, k in bounds if e > len(original) - tail]
    return [span for span in spans if span[1] > span[0]]


def _locate(codec: TextCodec, sent: Sequence[Message], text: str) -> list[int] | None:
    """Where each message's content starts in the rendered ``text``, from a render with sentinels."""
    stand_ins = [{**m, "content": _SENTINEL.format(j)} for j, m in enumerate(sent)]
    skeleton = codec.render_chat(stand_ins)
    starts, rebuilt, cursor, length = [], [], 0, 0
    for j, message in enumerate(sent):
        at = skeleton.find(_SENTINEL.format(j), cursor)
        if at < 0:
            return None  # the template does more with a message than print it
        rebuilt += [skeleton[cursor:at], message["content"]]
        starts.append(length + at - cursor)
        length += at - cursor + len(message["content"])
        cursor = at + len(_SENTINEL.format(j))
    rebuilt.append(skeleton[cursor:])
    return starts if "".join(rebuilt) == text else None


def _attribute(codec: TextCodec, sent: Sequence[Message], pieces: list[list[tuple[Key, str]]],
               originals: list[str]) -> dict[Key, int]:
    """Tokens per segment of the rendered prompt; they sum to the prompt's real length."""
    text = codec.render_chat(sent)
    _ids, offsets = codec.encode_with_offsets(text)
    starts = _locate(codec, sent, text)
    spans: list[tuple[int, int, Key]] = []
    if starts is None:  # fall back to finding each content in turn
        starts, cursor = [], 0
        for message in sent:
            at = text.find(message["content"], cursor) if message["content"] else -1
            starts.append(at)
            cursor = at + len(message["content"]) if at >= 0 else cursor
    for message, start, own, original in zip(sent, starts, pieces, originals):
        if start >= 0:
            spans += [(start + s, start + e, k) for s, e, k in _spans_in(message["content"], original, own)]
    span_starts = [s for s, _, _ in spans]
    tokens: dict[Key, int] = {}
    for begin, _end in offsets:
        index = bisect_right(span_starts, begin) - 1
        key = spans[index][2] if index >= 0 and begin < spans[index][1] else _TEMPLATE
        tokens[key] = tokens.get(key, 0) + 1
    return tokens


# -- what the user reads ------------------------------------------------------------------


def _prompt_segments(tokens: dict[Key, int], docs: Sequence[Document], omitted: Sequence[str]) -> tuple[Segment, ...]:
    segments = [Segment("system", "System prompt", tokens.get(("system", 0), 0)),
                Segment("history", "History", tokens.get(("history", 0), 0))]
    for index, doc in enumerate(docs):
        detail = next((line.partition(": ")[2] for line in omitted if line.startswith(f"{doc.name}: ")), "")
        segments.append(Segment("document", doc.name, tokens.get(("document", index), 0), detail))
    if tokens.get(_FOLLOW_UP):
        segments.append(Segment("document", "Earlier documents", tokens[_FOLLOW_UP], "new excerpts for this question"))
    segments += [Segment("message", "Message", tokens.get(("message", 0), 0)),
                 Segment("template", "Template", tokens.get(_TEMPLATE, 0))]
    return tuple(segments)


def _outcome(fitted: FittedPrompt, composed: ComposedPrompt, sent: Sequence[Message],
             pieces: list[list[tuple[Key, str]]], docs: Sequence[Document], room: int, reserve: int) -> str:
    """What sending will drop or cut, in a sentence or two ("" if everything fits as it is)."""
    notes = []
    left_out = [line for line in composed.omitted if any(line.startswith(f"{d.name}: ") for d in docs)]
    if left_out:
        notes.append("The documents do not fit whole: only their most relevant parts go in ("
                     + "; ".join(left_out) + ").")
    if fitted.dropped_messages:
        n = fitted.dropped_messages
        notes.append(f"Sending drops the {'oldest message' if n == 1 else f'{n} oldest messages'} to fit the context.")
    if fitted.truncated_tokens:
        notes.append(f"Sending cuts {fitted.truncated_tokens:,} tokens out of the middle of {_cut_where(composed, sent, pieces, docs)}.")
    if room < reserve:
        notes.append(f"The reply has room for only {room:,} tokens.")
    return " ".join(notes)


def _cut_where(composed: ComposedPrompt, sent: Sequence[Message], pieces: list[list[tuple[Key, str]]],
               docs: Sequence[Document]) -> str:
    """Which text the middle cut falls in: a document, the new message, or the earlier messages."""
    if not sent or sent[-1]["content"] == composed.messages[-1]["content"]:
        return "the earlier messages"
    original, content = composed.messages[-1]["content"], sent[-1]["content"]
    head = next((i for i, (a, b) in enumerate(zip(original, content)) if a != b), min(len(original), len(content)))
    at = 0
    for (kind, index), text in pieces[-1]:
        if at <= head < at + len(text) and kind == "document":
            return f"the document {docs[index].name}"
        at += len(text)
    return "your message"
