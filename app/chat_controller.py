"""Chat orchestration: send, edit, regenerate, continue, stop, and the streamed reply.

A plain ``QObject`` without widgets of its own: it drives the views it is given (chat,
composer, metrics bar, conversation list) through their methods, writes the store, and
hears the engine through the bridge's signals. Edits and regenerations branch (see
app/store_schema.py): earlier versions stay, browsable as ‹ 1/2 › on the message.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QGuiApplication

from app.backend_switch import origin_label
from app.bridge import Bridge, GenerationRequest
from app.chat_view import ChatView, MessageWidget
from app.composer import Composer
from app.conversation_list import ConversationList
from app.metrics_bar import MetricsBar, footer_from_stats, footer_text, stats_of
from engine.generation.prompt import ComposedPrompt, Turn
from app.recovery import database_guarded
from app.reply_citations import ReplyCitations
from app.session import Session
from app.settings import AppSettings as Settings, ModelSettings
from app.state import AppState
from app.store import Attachment, Store, StoredMessage
from app.token_probs import TOP_ALTERNATIVES, TokenRecorder, branched
from engine.core.events import GenerationEvent, PrefillProgress, TokenLogprob

SAVE_EVERY_TOKENS = 8  # a crash loses at most this many streamed tokens
SAVE_EVERY_SECONDS = 1.0


class ChatController(QObject):
    reply_finished = Signal(object)  # the last GenerationEvent of a reply
    conversation_changed = Signal()  # another chat (or none) is on screen

    def __init__(self, session: Session, store: Store, bridge: Bridge, settings: Callable[[], Settings],
                 chat: ChatView, composer: Composer, metrics: MetricsBar, conversations: ConversationList,
                 confirm: Callable[[str, str], bool], ask_text: Callable[[str, str, str], str | None],
                 parent: QObject | None = None,
                 snapshot: Callable[[str, int | None], ModelSettings] | None = None) -> None:
        super().__init__(parent)
        # The settings a reply uses: the model's, with the chat's preset laid over them.
        self._snapshot = snapshot or (lambda model, _chat: self._settings().for_model(model))
        self._confirm, self._ask_text = confirm, ask_text  # the window's dialogs (replaced in tests)
        self.session, self.store, self.bridge, self._settings = session, store, bridge, settings
        self.chat, self.composer, self.metrics, self.conversations = chat, composer, metrics, conversations
        self.conversation_id: int | None = None
        self.replies_finished = 0  # how many replies ended (tests and the self-test wait on it)
        self.last_finished: GenerationEvent | None = None
        self._request_id = 0
        self._reply: MessageWidget | None = None
        self._reply_text = ""
        self._tokens = TokenRecorder()  # the streaming reply's tokens and their probabilities
        self.citations = ReplyCitations(store, chat)
        self._unsaved_tokens = 0
        self._last_save = 0.0
        e = bridge.engine
        e.prompt_composed.connect(self._on_engine_prompt_composed)
        e.prefill_progressed.connect(self._on_engine_prefill_progressed)
        e.token_generated.connect(self._on_engine_token_generated)
        e.generation_finished.connect(self._on_engine_generation_finished)
        chat.regenerate_requested.connect(self.regenerate)
        chat.continue_requested.connect(self.continue_reply)
        chat.edit_requested.connect(self.edit)
        chat.version_requested.connect(self.show_version)
        chat.alternative_requested.connect(self.branch)
        composer.send_requested.connect(self.send)
        composer.stop_requested.connect(self.stop)
        composer.edit_last_requested.connect(self.edit_last)
        conversations.selected.connect(self.open_conversation)
        conversations.new_requested.connect(self.new_chat)
        conversations.rename_requested.connect(self.rename)
        conversations.delete_requested.connect(self.delete)

    @property
    def state(self) -> AppState:
        return self.session.state

    # -- commands ---------------------------------------------------------------------------
    @database_guarded("Could not save your message: {problem}. Nothing was sent; try again in a moment.")
    def send(self, text: str) -> None:
        """Send ``text`` (with the attached documents) and start the reply; an edit branches."""
        loaded = self.session.loaded
        if self.state is not AppState.IDLE:
            return
        if loaded is None:
            self.chat.add_notice("Load a model first: pick one at the top and press Load.", "info")
            return
        if self.composer.extracting():
            self.chat.add_notice("Still reading the attached files; send again in a moment.", "info")
            return
        attachments = tuple(Attachment.of(a.document, a.tokens) for a in self.composer.ready_documents() if a.document)
        editing = self.composer.editing_message if self.conversation_id is not None else None
        retitle = False
        if editing is not None:
            history = self.store.messages(self.conversation_id)  # type: ignore[arg-type]
            old = next((m for m in history if m.id == editing), None)
            if old is not None and not attachments:
                attachments = old.attachments
            conv = self.store.conversation(self.conversation_id)  # type: ignore[arg-type]
            # The first message named the chat: its new text does too, unless the user renamed it.
            retitle = bool(old and old.parent_id is None and conv and conv.title == title_from(old.content))
        # One transaction; if it fails, nothing below runs and the text stays in the composer.
        sent = self.store.begin_exchange(self.conversation_id, title_from(text), text, loaded.info.name,
                                         attachments, replace_from=editing, retitle=retitle, origin=loaded.info.path)
        self.conversation_id = sent.conversation_id
        self.composer.end_edit()
        self.composer.set_text("")
        self.composer.clear_attachments()
        self.conversations.reload(select=self.conversation_id)
        if editing is not None:
            self.show_conversation()
        else:
            self.chat.add_message(sent.message_id, "user", text, "You",
                                  [f"{a.name} ({a.tokens:,} tokens)" for a in attachments])
            self.chat.add_message(sent.reply_id, "assistant", "", _title(loaded.info.name, loaded.info.path))
        self._start_reply()

    @database_guarded("Could not start a new reply: {problem}. The old one is kept; try again in a moment.")
    def regenerate(self) -> None:
        """Write the last reply again; the old one stays as an earlier version."""
        if self.state is not AppState.IDLE or self.conversation_id is None or self.session.loaded is None:
            return
        messages = self.store.messages(self.conversation_id)
        if not messages or messages[-1].role != "assistant":
            return
        info = self.session.loaded.info
        self.store.restart_reply(self.conversation_id, messages[-1].id, info.name, origin=info.path)
        self.show_conversation()
        self._start_reply()

    def continue_reply(self) -> None:
        """Carry on the last reply, which hit max tokens, in the same message."""
        if self.state is not AppState.IDLE or self.conversation_id is None or self.session.loaded is None:
            return
        messages = self.store.messages(self.conversation_id)
        if not messages or messages[-1].role != "assistant" or messages[-1].finish_reason != "length":
            return
        self._start_reply(continues=True)

    @database_guarded("Could not start the new branch: {problem}. The reply is kept; try again in a moment.")
    def branch(self, message_id: int, index: int, alternative: TokenLogprob) -> None:
        """Write reply ``message_id`` again from its token ``index``, with ``alternative`` there.

        The new reply is another version of the old one (‹ 1/2 ›); it starts with the old
        tokens before ``index`` and the alternative, and the engine carries on from those
        exact ids, so the cache keeps everything before the branch point.
        """
        loaded = self.session.loaded
        if self.state is not AppState.IDLE or self.conversation_id is None or loaded is None:
            return
        reply = next((m for m in self.store.messages(self.conversation_id) if m.id == message_id), None)
        tokens = reply.tokens() if reply is not None else ()
        if reply is None or reply.role != "assistant" or not 0 <= index < len(tokens) or alternative.token_id < 0:
            return
        kept = branched(tokens, index, alternative)
        new = self.store.restart_reply(self.conversation_id, reply.id, loaded.info.name, origin=loaded.info.path)
        self.store.update_message(new, "".join(t.text for t in kept), tokens=kept)
        self.show_conversation()
        self.chat.messages[-1].set_tokens(kept, show=True)  # the new branch (the leaf) in the same view
        self._start_reply(continues=True, prefix_ids=tuple(t.token_id for t in kept))

    def stop(self) -> None:
        if self.state in (AppState.PREFILLING, AppState.GENERATING):
            self.bridge.cancel()
            self.session.set_state(AppState.STOPPING)

    def edit(self, message_id: int) -> None:
        if self.state is not AppState.IDLE:
            return
        widget = next((m for m in self.chat.messages if m.message_id == message_id), None)
        if widget is not None:
            self.composer.begin_edit(message_id, widget.text)

    def edit_last(self) -> None:
        """Up in an empty composer: edit the last message the user sent."""
        last = next((m for m in reversed(self.chat.messages) if m.role == "user"), None)
        if last is not None:
            self.edit(last.message_id)

    def copy_last_reply(self) -> bool:
        last = next((m for m in reversed(self.chat.messages) if m.role == "assistant" and m.text), None)
        if last is None:
            return False
        QGuiApplication.clipboard().setText(last.text)
        self.session.show_status("Copied the last reply to the clipboard", 2000)
        return True

    @database_guarded("Could not switch versions: {problem}. Try again in a moment.")
    def show_version(self, message_id: int, step: int) -> None:
        """Show the previous (``step`` -1) or next (+1) version of ``message_id``."""
        if self.state is not AppState.IDLE or self.conversation_id is None:
            return
        message = next((m for m in self.store.messages(self.conversation_id) if m.id == message_id), None)
        if message is None:
            return
        index = message.versions.index(message.id) + step
        if 0 <= index < len(message.versions):
            self.store.select_version(self.conversation_id, message.versions[index])
            self.show_conversation()

    @database_guarded("Could not rename the chat: {problem}. It keeps its old name; try again in a moment.")
    def rename(self, conversation_id: int) -> None:
        conv = self.store.conversation(conversation_id)
        if conv is None:
            return
        title = self._ask_text("Rename chat", "New name:", conv.title)
        if title and title.strip():
            self.store.rename_conversation(conversation_id, title.strip())
            self.conversations.reload()

    @database_guarded("Could not delete the chat: {problem}. It is still here; try again in a moment.")
    def delete_selected(self) -> None:
        """Delete the chat selected in the list (after asking), if any."""
        conversation_id = self.conversations.current_id()
        if conversation_id is not None:
            self.delete(conversation_id)

    @database_guarded("Could not delete the chat: {problem}. It is still here; try again in a moment.")
    def delete(self, conversation_id: int) -> None:
        if self.state.answering:
            return
        if self._confirm("Delete chat", "Delete this chat and all its messages?"):
            self.store.delete_conversation(conversation_id)
            if conversation_id == self.conversation_id:
                self.new_chat()
            self.conversations.reload()

    # -- showing a chat ---------------------------------------------------------------------
    def new_chat(self) -> None:
        if self.state.answering:
            return
        self.conversation_id = None
        self.chat.clear()
        self.composer.end_edit(clear=True)
        self.metrics.clear()
        self.conversations.list.clearSelection()
        self.conversations.list.setCurrentItem(None)
        self.composer.edit.setFocus()
        self.conversation_changed.emit()

    def open_conversation(self, conversation_id: int) -> None:
        if self.state.answering:
            return
        self.conversation_id = conversation_id
        self.composer.end_edit(clear=True)
        self.metrics.clear()
        self.show_conversation()
        self.conversation_changed.emit()

    def show_conversation(self) -> None:
        """Draw the branch on screen of the open chat again, from the store."""
        self.chat.clear()
        if self.conversation_id is None:
            return
        for m in self.store.messages(self.conversation_id):
            self.citations.restored(self._add(m), m)
            if m.role == "assistant" and not m.complete and m.content:
                self.chat.add_notice("This reply was interrupted before it finished.", "info")
            elif m.role == "assistant" and m.finish_reason == "error" and m.content:
                self.chat.add_notice("This reply was cut off by an error: the text above is all that arrived.", "info")
        self.chat.refresh_actions(self.state is AppState.IDLE)

    def _add(self, m: StoredMessage) -> MessageWidget:
        title = "You" if m.role == "user" else _title(m.model or "Assistant", m.origin)
        names = [f"{a.name} ({a.tokens:,} tokens)" for a in m.attachments]
        widget = self.chat.add_message(m.id, m.role, m.content, title, names,
                                       footer_from_stats(m.stats) if m.role == "assistant" else "")
        widget.set_version(m.version, len(m.versions))
        widget.finish_reason = m.finish_reason
        if m.role == "assistant":
            widget.set_tokens(m.tokens(), show=self.chat.probabilities_on)
        return widget

    # -- streaming --------------------------------------------------------------------------
    def _start_reply(self, continues: bool = False, prefix_ids: tuple[int, ...] | None = None) -> None:
        """Stream into the last message on screen (an empty reply, or one to continue), already saved.

        ``prefix_ids``: the exact ids of the reply to continue (a branch from a chosen token)."""
        assert self.conversation_id is not None and self.session.loaded is not None
        history = self.store.messages(self.conversation_id)
        reply = history[-1]
        turns = tuple(Turn(m.role, m.content, tuple(a.document() for a in m.attachments))
                      for m in (history if continues else history[:-1]) if m.role in ("user", "assistant"))
        model = self.session.loaded.info.name
        snapshot = self._snapshot(model, self.conversation_id)
        self._reply = self.chat.messages[-1]
        assert self._reply.message_id == reply.id
        self._reply.finish_reason = None
        self._reply_text = reply.content if continues else ""
        self._reply.set_text(self._reply_text)  # the stream appends to exactly what is continued
        self._tokens = TokenRecorder.resume(reply.tokens(), reply.content) if continues else TokenRecorder()
        self._reply.set_tokens(self._tokens.snapshot(), show=None if continues else self.chat.probabilities_on)
        self._unsaved_tokens = 0
        self._last_save = time.monotonic()
        self.chat.begin_stream(self._reply)
        self.chat.refresh_actions(False)
        self.metrics.reset()
        self._request_id += 1
        params = dataclasses.replace(snapshot.sampling(), logprobs=True, top_logprobs=TOP_ALTERNATIVES)
        self.bridge.generate(GenerationRequest(
            self._request_id, turns, params, snapshot.overflow_policy,  # type: ignore[arg-type]
            snapshot.system_prompt, self.session.loaded_context, continues=continues, prefix_ids=prefix_ids,
        ))
        self.session.set_state(AppState.PREFILLING)

    def _on_engine_prompt_composed(self, request_id: int, composed: ComposedPrompt) -> None:
        if request_id == self._request_id and self._reply is not None:
            self.citations.composed(self._reply, composed)

    def _on_engine_prefill_progressed(self, request_id: int, progress: PrefillProgress) -> None:
        if request_id == self._request_id:
            self.metrics.show_prefill(progress)

    def _on_engine_token_generated(self, request_id: int, event: GenerationEvent) -> None:
        if request_id != self._request_id or self._reply is None:
            return
        if self.state is AppState.PREFILLING:
            self.session.set_state(AppState.GENERATING)
        for notice in event.notices:  # e.g. sampling settings a remote server ignores, once per model
            self.chat.add_notice(notice, "info")
        self._reply_text += event.text
        self._tokens.add(event)
        self.chat.append_stream(event.text)
        self.metrics.show_event(event)
        self._unsaved_tokens += 1
        now = time.monotonic()
        if self._unsaved_tokens >= SAVE_EVERY_TOKENS or now - self._last_save >= SAVE_EVERY_SECONDS:
            self.store.update_message(self._reply.message_id, self._reply_text, tokens=self._tokens.snapshot())
            self._reply.set_tokens(self._tokens.snapshot())
            self._unsaved_tokens, self._last_save = 0, now

    def _on_engine_generation_finished(self, request_id: int, event: GenerationEvent) -> None:
        if request_id != self._request_id or self._reply is None:
            return
        reply = self._reply
        self._reply = None
        for notice in event.notices:  # a reply with no text brings its notices here
            self.chat.add_notice(notice, "info")
        self.chat.end_stream()
        self.metrics.show_event(event)
        self.last_finished = event
        if not self._reply_text and event.finish_reason == "error":
            self.store.drop_reply(reply.message_id)  # queued: a locked or full disk must not stop us here
            self.chat.remove_message(reply)
        else:
            self.store.update_message(reply.message_id, self._reply_text, stats_of(event), event.finish_reason,
                                      complete=True, tokens=self._tokens.snapshot())
            reply.set_tokens(self._tokens.snapshot())
            reply.set_footer(footer_text(event))
            reply.finish_reason = event.finish_reason
        if event.finish_reason == "context_full":
            self.chat.add_notice("The context is full. Start a new chat, raise the context length, "
                                 "or choose another overflow policy in Settings.", "info")
        if event.dropped_messages:
            self.chat.add_notice(f"{event.dropped_messages} older messages were left out to fit the context.", "info")
        self.replies_finished += 1
        self.session.set_state(AppState.IDLE)
        self.reply_finished.emit(event)

    def on_generate_failed(self, request_id: int, message: str) -> None:
        if request_id == self._request_id:
            self.chat.add_notice(message)

    def save_partial(self) -> None:
        """Closing mid-reply: keep what streamed so far."""
        if self._reply is not None:
            self.store.update_message(self._reply.message_id, self._reply_text, tokens=self._tokens.snapshot())


def _title(model: str, origin: str) -> str:
    """A reply's heading: the model, and the server for a remote one ("SmolLM2 · remote: gpu-box")."""
    where = origin_label(origin)
    return f"{model} · {where}" if where else model


def title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 48 else line[:47].rstrip() + "…"
