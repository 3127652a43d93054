"""What crosses between the GUI and the workers: frozen requests in, frozen events out.

Requests that can be cancelled carry their own ``threading.Event``: the GUI sets it
directly (thread-safe), and it reaches the job whether it runs or still waits in the queue.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from engine.core.events import LoadOptions, LoadReport, ModelInfo, OverflowPolicy, SamplingParams
from engine.documents import Document
from engine.generation.prompt import Turn


# -- requests -----------------------------------------------------------------------
@dataclass(frozen=True)
class LoadRequest:
    folder: str
    options: LoadOptions


@dataclass(frozen=True)
class GenerationRequest:
    """One reply to produce. ``cancel`` is set by the GUI (through ``Bridge.cancel``)."""

    request_id: int
    turns: tuple[Turn, ...]
    params: SamplingParams
    policy: OverflowPolicy = "drop_oldest"
    system_prompt: str = ""
    context_length: int = 4096
    cancel: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)
    continues: bool = False  # the last turn is an unfinished reply to carry on (Continue)
    prefix_ids: tuple[int, ...] | None = None  # with ``continues``: that reply's exact ids (a branch)


@dataclass(frozen=True)
class ExtractRequest:
    request_id: int
    path: str
    cancel: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)


@dataclass(frozen=True)
class InstallRequest:
    """Install the default model, or pull a catalogue model. Each job has its own
    ``cancel``, so a cancel pressed while it waits in the queue still reaches it."""

    catalogue_id: str = ""  # empty: the default model
    cancel: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)


@dataclass(frozen=True)
class ConvertRequest:
    src: str
    out_dir: str
    precision: str = "int4"
    provider: str = "cpu"
    cancel: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)


# -- events -------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelLoaded:
    info: ModelInfo
    report: LoadReport


@dataclass(frozen=True)
class Failure:
    """Something the user should read. ``kind`` says which request failed."""

    kind: str  # "load", "generate", "extract", "inspect", "install", "convert"
    message: str
    request_id: int = 0
    subject: str = ""  # the file or folder it was about, if any


@dataclass(frozen=True)
class DocumentExtracted:
    request_id: int
    document: Document
    tokens: int


@dataclass(frozen=True)
class JobProgress:
    kind: str
    text: str
    fraction: float | None = None  # None: indeterminate
    request_id: int = 0
