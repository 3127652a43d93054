"""Text in and out: tokenizer.json and the model's chat template."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from jinja2.exceptions import TemplateError
from tokenizers import Tokenizer

from engine.core.config_files import read_json
from engine.core.errors import ModelLoadError
from engine.runtime.chat_template import MIN_OUTPUT_CHARS, BoundedEnvironment, render_bounded
from engine.runtime.model_config import check_tokenizer_config

# Longer texts are encoded with the GIL released (about 25 ms of tokenizing at this size).
_GIL_FREE_CHARS = 8192
# Used only when a model ships no template of its own.
_CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def token_text(value: object) -> str | None:
    if isinstance(value, dict):  # older configs store AddedToken dicts
        value = value.get("content")
    return value if isinstance(value, str) else None


class TextCodec:
    """The model's tokenizer plus its chat template."""

    def __init__(self, folder: Path) -> None:
        path = folder / "tokenizer.json"
        if not path.is_file():
            raise ModelLoadError(
                f"{folder} has no tokenizer.json, so Hearth cannot turn text into tokens. "
                "Copy tokenizer.json from the original model into this folder, or convert the model again."
            )
        try:
            self.tokenizer = Tokenizer.from_file(str(path))
        except Exception as exc:  # the Rust side raises a bare Exception
            raise ModelLoadError(f"{path} could not be read: {exc}") from None
        config = read_json(folder / "tokenizer_config.json")
        check_tokenizer_config(config, folder / "tokenizer_config.json")
        template = config.get("chat_template")
        template_file = folder / "chat_template.jinja"
        if not template and template_file.is_file():
            template = template_file.read_text(encoding="utf-8")
        if isinstance(template, list):  # named templates: take the default one
            template = next((t["template"] for t in template if t.get("name") == "default"), template[0]["template"])
        self.chat_template: str = template or _CHATML
        self.bos_token = token_text(config.get("bos_token"))
        self.eos_token = token_text(config.get("eos_token"))
        self._env = BoundedEnvironment(trim_blocks=True, lstrip_blocks=True)
        self._env.globals["raise_exception"] = _raise_template_error
        try:
            self._template = self._env.from_string(self.chat_template)
        except TemplateError as exc:
            raise ModelLoadError(f"The model's chat template does not parse: {exc}") from None

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        if len(text) < _GIL_FREE_CHARS:
            return self.tokenizer.encode(text, add_special_tokens=add_special_tokens).ids
        return self.encode_with_offsets(text, add_special_tokens)[0]

    def encode_with_offsets(self, text: str, add_special_tokens: bool = False) -> tuple[list[int], list[tuple[int, int]]]:
        """The ids of ``text`` and each token's ``(start, end)`` character offsets in it.

        Runs through ``encode_batch``, which releases the GIL while it works (``encode``
        holds it: a long document would freeze the GUI thread for its whole length).
        """
        encoding = self.tokenizer.encode_batch([text], add_special_tokens=add_special_tokens)[0]
        return encoding.ids, encoding.offsets

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def token_id(self, text: str) -> int | None:
        return self.tokenizer.token_to_id(text)

    def render_chat(
        self,
        messages: Sequence[dict[str, str]],
        add_generation_prompt: bool = True,
        cancel: threading.Event | None = None,
    ) -> str:
        """The prompt text for ``messages``, as the model was trained to see it.

        The template is the model's own code: it runs sandboxed, within a time limit
        and an output size of a few times the messages' length.

        Raises:
            ChatTemplateError: The template failed or broke a limit; the message says which.
            RenderCancelled: ``cancel`` was set.
        """
        messages = list(messages)
        size = sum(len(str(m.get("content") or "")) for m in messages)
        context = {
            "messages": messages,
            "add_generation_prompt": add_generation_prompt,
            "bos_token": self.bos_token or "",
            "eos_token": self.eos_token or "",
        }
        return render_bounded(self._template, context, MIN_OUTPUT_CHARS + 4 * size, cancel=cancel)

    def encode_chat(
        self,
        messages: Sequence[dict[str, str]],
        add_generation_prompt: bool = True,
        cancel: threading.Event | None = None,
    ) -> list[int]:
        # The template already writes any BOS, so no special tokens are added here.
        return self.encode(self.render_chat(messages, add_generation_prompt, cancel))


def _raise_template_error(message: str) -> None:
    raise TemplateError(message)
