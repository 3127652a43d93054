"""Attachments: reading dropped or chosen files on the jobs thread, and the budget note.

A plain ``QObject`` without widgets of its own: it drives the composer's chips and note.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject

from app.bridge import Bridge, DocumentExtracted, ExtractRequest, JobProgress
from app.composer import Composer, PendingAttachment
from engine.generation.prompt import document_budget
from app.session import Session
from app.settings import AppSettings as Settings
from app.store import Store


class AttachmentController(QObject):
    def __init__(self, session: Session, store: Store, bridge: Bridge, settings: Callable[[], Settings],
                 composer: Composer, conversation_id: Callable[[], int | None],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session, self.store, self.bridge, self._settings = session, store, bridge, settings
        self.composer, self._conversation_id = composer, conversation_id
        self._attach_id = 0
        # Each chip's job (reading its file, then embedding it), by request id, for as long as the
        # chip is shown: removing the chip cancels the job (a no-op once it has ended).
        self._jobs: dict[int, ExtractRequest] = {}
        bridge.jobs.document_extracted.connect(self._on_jobs_document_extracted)
        bridge.jobs.progressed.connect(self._on_jobs_progressed)
        composer.attachment_removed.connect(self._on_composer_attachment_removed)
        composer.attachments_changed.connect(self._on_composer_attachments_changed)

    def attach_files(self, files: list[str]) -> None:
        for file in files:
            self._attach_id += 1
            self.composer.add_attachment(PendingAttachment(self._attach_id, Path(file).name))
            request = ExtractRequest(self._attach_id, file)
            self._jobs[request.request_id] = request
            self.bridge.extract_requested.emit(request)

    def _on_composer_attachment_removed(self, request_id: int) -> None:
        # A chip removed while its file is read or embedded stops that work (the jobs check this event).
        request = self._jobs.pop(request_id, None)
        if request is not None:
            request.cancel.set()
        self.update_budget_note()

    def _on_composer_attachments_changed(self) -> None:
        # Chips cleared by a send are forgotten without a cancel: their embedding may finish.
        self._jobs = {rid: job for rid, job in self._jobs.items() if rid in self.composer.attachments}

    def _on_jobs_progressed(self, progress: JobProgress) -> None:
        # After reading, the jobs thread embeds the chunks for retrieval; the chip shows how far.
        item = self.composer.attachments.get(progress.request_id) if progress.kind == "index" else None
        if item is not None and progress.fraction is not None:
            self.composer.add_attachment(dataclasses.replace(item, indexed=progress.fraction))

    def _on_jobs_document_extracted(self, extracted: DocumentExtracted) -> None:
        if extracted.request_id not in self.composer.attachments:
            return  # removed while it was being read
        doc = extracted.document
        self.composer.add_attachment(PendingAttachment(extracted.request_id, doc.name, doc, extracted.tokens))
        self.update_budget_note()

    def on_extract_failed(self, request_id: int) -> None:
        self._jobs.pop(request_id, None)
        self.composer.remove_attachment(request_id)

    def update_budget_note(self) -> None:
        docs = self.composer.ready_documents()
        if not docs or self.composer.budget_bar.budget is not None:  # the bar shows the real counts
            self.composer.show_budget_note("")
            return
        total = sum(a.tokens for a in docs)
        loaded = self.session.loaded
        snapshot = self._settings().for_model(loaded.info.name if loaded else None)
        context = self.session.loaded_context or snapshot.context_length
        history = 0
        conversation_id = self._conversation_id()
        if conversation_id is not None:
            history = sum(len(m.content) // 4 + 16 for m in self.store.messages(conversation_id))
        budget = document_budget(context, snapshot.max_new_tokens, history)
        if total <= budget:
            self.composer.show_budget_note(f"Attachments: {total:,} tokens; they fit whole.")
        else:
            self.composer.show_budget_note(
                f"Attachments: {total:,} tokens, but only about {budget:,} fit the context. Hearth will use the "
                "parts most relevant to your question and tell you what it left out.")
