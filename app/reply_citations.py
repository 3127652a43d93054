"""Citations of a reply: shown as chips when its prompt is composed, stored, and shown again.

A small helper of the chat controller (app/chat_controller.py), which hands it the reply
widget of the running request and each message it redraws from the store.
"""

from __future__ import annotations

from app.chat_view import ChatView, MessageWidget
from app.reply_sources import ReplySources, left_out_notice
from app.store import Store, StoredMessage
from engine.generation.prompt import ComposedPrompt


class ReplyCitations:
    def __init__(self, store: Store, chat: ChatView) -> None:
        self.store, self.chat = store, chat

    def composed(self, reply: MessageWidget, composed: ComposedPrompt) -> None:
        """The prompt of ``reply`` is known: chip what went in, note what did not, and store both."""
        sources = ReplySources(composed.sources, composed.omitted)
        reply.citations.set_sources(sources.sources)
        if sources:
            # Before the first token, so even a reply cut off by a crash keeps them.
            self.store.update_message(reply.message_id, reply.text, sources=sources)
        if sources.omitted:
            self.chat.add_notice(left_out_notice(sources.omitted), "info")

    def restored(self, widget: MessageWidget, message: StoredMessage) -> MessageWidget:
        """A message drawn again from the store: its chips and left-out note, as they were."""
        if message.role == "assistant":
            sources = message.sources()
            widget.citations.set_sources(sources.sources)
            if sources.omitted:
                self.chat.add_notice(left_out_notice(sources.omitted), "info")
        return widget
