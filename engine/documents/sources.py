"""Where the document text in a prompt came from: one ``Source`` per excerpt, or per whole file.

Retrieval (``engine.documents.retrieval.build_context``) makes them from exactly the text it
put in the prompt, so a reply's citations say what the model was shown, never what its own
text claims. The app shows them as chips under the reply and stores them with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.documents.model import Document


@dataclass(frozen=True)
class Source:
    """A stretch of one attached document that went into the prompt, as it went in.

    Attributes:
        name: The file name.
        unit: What ``first`` and ``last`` count: "page" (PDF), "paragraph" (DOCX) or "line".
        first: The first page, paragraph or line of ``text`` (1-based).
        last: The last one.
        text: The text the prompt holds for it, exactly.
        whole: True when the whole document went in (then ``first``..``last`` is all of it).
    """

    name: str
    unit: str
    first: int
    last: int
    text: str
    whole: bool = False

    @property
    def where(self) -> str:
        """``p. 4``, ``pp. 3-4``, ``para. 2``, ``lines 10-42``."""
        return where(self.unit, self.first, self.last)

    @property
    def label(self) -> str:
        """What a chip says: ``gpl.pdf p. 4``, or ``notes.md (whole file)``."""
        return f"{self.name} (whole file)" if self.whole else f"{self.name} {self.where}"

    @property
    def citation(self) -> str:
        """``[report.pdf, p. 3]``: how the prompt heads the excerpt."""
        return f"[{self.name}, {self.where}]"


def where(unit: str, first: int, last: int) -> str:
    """A page, paragraph or line range in citation form (``p. 3``, ``pp. 3-4``, ``line 7``)."""
    if unit == "page":
        return f"p. {first}" if first == last else f"pp. {first}-{last}"
    if unit == "paragraph":
        return f"para. {first}" if first == last else f"paras. {first}-{last}"
    return f"line {first}" if first == last else f"lines {first}-{last}"


def whole_source(doc: Document, text: str) -> Source:
    """The source of a document that went in whole, as ``text`` (its body in the prompt)."""
    first = doc.pages[0].first if doc.pages else 1
    last = doc.pages[-1].last if doc.pages else 1
    return Source(doc.name, doc.unit, first, last, text, whole=True)
