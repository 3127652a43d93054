"""The window's commands from the conversation list: new, open, rename, delete.

A mixin of ``MainWindow`` (it uses the window's store, views and state). Rename and delete
write on the GUI thread in one short transaction; a locked database or a full disk becomes
a notice and leaves the chat as it was (see app/store.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.metrics_bar import footer_from_stats
from app.recovery import database_guarded
from app.state import AppState

if TYPE_CHECKING:
    from app.chat_view import ChatView
    from app.composer import Composer
    from app.conversation_list import ConversationList
    from app.store import Store


class ConversationCommands:
    store: Store
    chat: ChatView
    composer: Composer
    conversations: ConversationList
    state: AppState
    conversation_id: int | None

    def _confirm(self, title: str, text: str) -> bool:
        raise NotImplementedError

    def _ask_text(self, title: str, label: str, value: str) -> str | None:
        raise NotImplementedError

    def _on_conversations_new_requested(self) -> None:
        if self.state.answering:
            return
        self.conversation_id = None
        self.chat.clear()
        self.composer.end_edit()
        self.conversations.list.clearSelection()
        self.conversations.list.setCurrentItem(None)
        self.composer.edit.setFocus()

    def open_conversation(self, conversation_id: int) -> None:
        if self.state.answering:
            return
        self.conversation_id = conversation_id
        self.chat.clear()
        self.composer.end_edit()
        for m in self.store.messages(conversation_id):
            title = "You" if m.role == "user" else (m.model or "Assistant")
            self.chat.add_message(m.id, m.role, m.content, title, [a.name for a in m.attachments],
                                  footer_from_stats(m.stats) if m.role == "assistant" else "")
            if m.role == "assistant" and not m.complete:
                self.chat.add_notice("This reply was interrupted before it finished.", "info")
        self.chat.refresh_actions(self.state is AppState.IDLE)

    @database_guarded("Could not rename the chat: {problem}. It keeps its old name; try again in a moment.")
    def _on_conversations_rename_requested(self, conversation_id: int) -> None:
        conv = self.store.conversation(conversation_id)
        if conv is None:
            return
        title = self._ask_text("Rename chat", "New name:", conv.title)
        if title and title.strip():
            self.store.rename_conversation(conversation_id, title.strip())
            self.conversations.reload()

    @database_guarded("Could not delete the chat: {problem}. It is still here; try again in a moment.")
    def _on_conversations_delete_requested(self, conversation_id: int) -> None:
        if self.state.answering:
            return
        if self._confirm("Delete chat", "Delete this chat and all its messages?"):
            self.store.delete_conversation(conversation_id)
            if conversation_id == self.conversation_id:
                self._on_conversations_new_requested()
            self.conversations.reload()
