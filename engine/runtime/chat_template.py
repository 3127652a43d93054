"""Rendering a model's chat template inside a sandbox with a size and time budget.

A chat template is code that comes with a downloaded model. Jinja's sandbox already
stops it reaching Python internals; this adds what the sandbox does not bound:
``{{ 'a'*300000000 }}`` (300 MB), nested ``range()`` loops that never end, huge
powers and format widths. Every failure is a ``ChatTemplateError`` a person can read.

The time limit is checked on every line the template runs (a trace function on the
template's own frames only), so a loop that outputs nothing is stopped too, and the
same check honours a ``cancel`` event.
"""

from __future__ import annotations

import contextlib
import functools
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from jinja2.compiler import CodeGenerator
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from engine.core.errors import ChatTemplateError

RENDER_SECONDS = 5.0  # a real template renders a long chat in milliseconds
MIN_OUTPUT_CHARS = 1 << 20  # plus a few times the messages' own length
MAX_INT_ARG = 100_000  # widths, counts and repeats passed to filters and methods
MAX_INT_BITS = 1 << 16
_FORMAT_WIDTH = re.compile(r"%[#0 +\-]*(\*|\d{6,})|%[#0 +\-]*\d*\.(\*|\d{6,})")  # %-formatting widths
_BRACE_WIDTH = re.compile(r"\{[^{}]*(\d{6,})[^{}]*\}")  # str.format widths
_FIX = "Fix or remove the chat_template in the model's tokenizer_config.json (or chat_template.jinja)."


class RenderCancelled(Exception):
    """``cancel`` was set while the template ran. Not an error to show."""


class _Budget:
    """Limits for one render, kept per thread (a codec may be shared)."""

    def __init__(self, max_chars: int, seconds: float, cancel: threading.Event | None) -> None:
        self.max_chars = max_chars
        self.deadline = time.monotonic() + seconds
        self.seconds = seconds
        self.cancel = cancel

    def tick(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise RenderCancelled()
        if time.monotonic() > self.deadline:
            raise ChatTemplateError(f"The model's chat template ran for over {self.seconds:g} s and was stopped. {_FIX}")

    def check_size(self, value: object, what: str = "a value") -> None:
        if isinstance(value, (str, bytes, list, tuple)) and len(value) > self.max_chars:
            raise _too_big(what, len(value), self.max_chars)


_state = threading.local()


def _budget() -> _Budget:
    budget = getattr(_state, "budget", None)
    return budget if budget is not None else _Budget(MIN_OUTPUT_CHARS, RENDER_SECONDS, None)


def _too_big(what: str, size: int, limit: int) -> ChatTemplateError:
    return ChatTemplateError(
        f"The model's chat template tried to build {what} of {size:,} characters; "
        f"Hearth stops templates at {limit:,}. {_FIX}"
    )


class _BoundedCodeGenerator(CodeGenerator):
    """Compiles ``a ~ b`` to a size-checked join (Jinja's own ``str_join`` has no hook)."""

    def visit_Concat(self, node: Any, frame: Any) -> None:  # noqa: N802 - Jinja's visitor name
        self.write("environment.bounded_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox, with string/list growth, big numbers and time bounded."""

    code_generator_class = _BoundedCodeGenerator

    # Intercepted operators are also no longer folded at compile time, so a constant
    # ``'a'*300000000`` is not built while the template is merely parsed.
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {name: _bounded_filter(f) for name, f in self.filters.items()}

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        budget = _budget()
        budget.tick()
        _check_binop(budget, operator, left, right)
        result = super().call_binop(context, operator, left, right)
        budget.check_size(result, "a string")
        return result

    def bounded_join(self, parts: tuple[Any, ...]) -> str:
        budget = _budget()
        budget.tick()
        texts = [str(part) for part in parts]
        size = sum(len(text) for text in texts)
        if size > budget.max_chars:
            raise _too_big("a string", size, budget.max_chars)
        return "".join(texts)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _budget().tick()
        if attribute in ("format", "format_map") and isinstance(obj, str) and _BRACE_WIDTH.search(obj):
            raise ChatTemplateError(f"The model's chat template formats with a width too large to print. {_FIX}")
        return super().getattr(obj, attribute)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - Jinja's signature
        budget = _budget()
        budget.tick()
        _check_args(args, kwargs)
        _check_str_method(budget, __obj, args)
        result = super().call(__context, __obj, *args, **kwargs)
        budget.check_size(result, "a string")
        return result


def _check_binop(budget: _Budget, operator: str, left: Any, right: Any) -> None:
    if operator == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, (str, list, tuple)) and isinstance(times, int):
                if len(seq) * times > budget.max_chars:
                    raise _too_big("a string", len(seq) * times, budget.max_chars)
        if isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise ChatTemplateError(f"The model's chat template multiplies numbers too large to compute. {_FIX}")
    elif operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
        if max(1, left.bit_length()) * right > MAX_INT_BITS:
            raise ChatTemplateError(f"The model's chat template raises a number to a power too large to compute. {_FIX}")
    elif operator == "+" and isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
        if len(left) + len(right) > budget.max_chars:
            raise _too_big("a string", len(left) + len(right), budget.max_chars)
    elif operator == "%" and isinstance(left, str) and _FORMAT_WIDTH.search(left):
        raise ChatTemplateError(f"The model's chat template formats with a width too large to print. {_FIX}")


def _check_args(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT_ARG:
            raise ChatTemplateError(
                f"The model's chat template passes {value:,} to a function; Hearth allows up to {MAX_INT_ARG:,}. {_FIX}"
            )


def _check_str_method(budget: _Budget, obj: Any, args: tuple[Any, ...]) -> None:
    """Methods that can multiply a string's length in one call are checked before they run."""
    owner, name = getattr(obj, "__self__", None), getattr(obj, "__name__", "")
    if not isinstance(owner, str):
        return
    if name == "replace" and len(args) >= 2:
        _check_replace(budget, owner, args[0], args[1])


def _check_replace(budget: _Budget, text: Any, old: Any, new: Any) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        hits = text.count(old) if old else len(text) + 1
        size = len(text) + hits * (len(new) - len(old))
        if size > budget.max_chars:
            raise _too_big("a string", size, budget.max_chars)


def _bounded_filter(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)  # keeps Jinja's pass_context/pass_eval_context markers
    def bounded(*args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        budget.tick()
        _check_args(args, kwargs)
        if func.__name__ == "do_replace" and len(args) >= 4:  # (eval_ctx, s, old, new)
            _check_replace(budget, args[1], args[2], args[3])
        if func.__name__ == "do_format" and args and isinstance(args[0], str) and _FORMAT_WIDTH.search(args[0]):
            raise ChatTemplateError(f"The model's chat template formats with a width too large to print. {_FIX}")
        result = func(*args, **kwargs)
        budget.check_size(result, "a string")
        return result

    return bounded


def render_bounded(
    template: Any,
    context: Mapping[str, Any],
    max_chars: int,
    seconds: float | None = None,
    cancel: threading.Event | None = None,
) -> str:
    """Render ``template`` (from a ``BoundedEnvironment``) within ``max_chars`` and ``seconds`` (default ``RENDER_SECONDS``).

    Raises:
        ChatTemplateError: It failed, tried to escape the sandbox, or broke a limit.
        RenderCancelled: ``cancel`` was set.
    """
    seconds = RENDER_SECONDS if seconds is None else seconds
    budget = _Budget(max_chars, seconds, cancel or getattr(_state, "cancel", None))
    previous_budget, previous_trace = getattr(_state, "budget", None), sys.gettrace()
    _state.budget = budget
    parts: list[str] = []
    size = 0
    sys.settrace(_tracer(budget))
    try:
        for piece in template.generate(**context):
            size += len(piece)
            if size > max_chars:
                raise _too_big("a prompt", size, max_chars)
            parts.append(piece)
    except (ChatTemplateError, RenderCancelled):
        raise
    except SecurityError as exc:
        raise ChatTemplateError(f"The model's chat template tried to reach outside its sandbox ({exc}). {_FIX}") from None
    except TemplateError as exc:  # raise_exception() and template bugs
        raise ChatTemplateError(f"The model's chat template failed: {exc}") from None
    except RecursionError:
        raise ChatTemplateError(f"The model's chat template recursed too deeply. {_FIX}") from None
    except (MemoryError, OverflowError, ArithmeticError, TypeError, ValueError, LookupError, AttributeError) as exc:
        raise ChatTemplateError(f"The model's chat template failed: {type(exc).__name__}: {exc}") from None
    finally:
        sys.settrace(previous_trace)
        _state.budget = previous_budget
    return "".join(parts)


@contextlib.contextmanager
def cancel_scope(cancel: threading.Event | None) -> Iterator[None]:
    """Renders on this thread inside the ``with`` stop (``RenderCancelled``) once ``cancel`` is set."""
    previous = getattr(_state, "cancel", None)
    _state.cancel = cancel
    try:
        yield
    finally:
        _state.cancel = previous


def _tracer(budget: _Budget) -> Callable[..., Any]:
    """A trace function that checks the budget on each line of template code only."""

    def local(frame: Any, event: str, arg: Any) -> Any:
        budget.tick()
        return local

    def on_call(frame: Any, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename == "<template>":
            budget.tick()
            return local
        return None  # Jinja's runtime and filters run untraced, at full speed

    return on_call
