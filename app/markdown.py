"""Markdown to the HTML subset QTextBrowser shows, with highlighted code blocks.

Prose goes through Qt's own Markdown reader (headings, lists, tables, emphasis,
links). Fenced code blocks are cut out first and rendered separately: highlighted
with Pygments when it is installed, each with a "Copy" link (``copy:<n>``) the
chat view answers. An unclosed fence (mid-stream) renders as code so far.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from PySide6.QtGui import QTextDocument

_FENCE = re.compile(r"^(\s*)(```|~~~)\s*([\w+#.-]*)\s*$")
_BODY = re.compile(r"<body[^>]*>(.*)</body>", re.S)


@dataclass(frozen=True)
class Segment:
    kind: str  # "prose" or "code"
    text: str
    language: str = ""


def split_fences(text: str) -> list[Segment]:
    """Prose and fenced code, in order."""
    segments: list[Segment] = []
    prose: list[str] = []
    code: list[str] | None = None
    fence = ""
    language = ""
    for line in text.split("\n"):
        match = _FENCE.match(line)
        if code is None and match:
            if prose:
                segments.append(Segment("prose", "\n".join(prose)))
                prose = []
            code, fence, language = [], match.group(2), match.group(3)
        elif code is not None and line.strip() == fence:
            segments.append(Segment("code", "\n".join(code), language))
            code = None
        elif code is not None:
            code.append(line)
        else:
            prose.append(line)
    if code is not None:
        segments.append(Segment("code", "\n".join(code), language))
    if prose:
        segments.append(Segment("prose", "\n".join(prose)))
    return segments


def code_blocks(text: str) -> list[str]:
    return [s.text for s in split_fences(text) if s.kind == "code"]


def _prose_html(text: str) -> str:
    doc = QTextDocument()
    doc.setMarkdown(text, QTextDocument.MarkdownFeature.MarkdownDialectGitHub)
    match = _BODY.search(doc.toHtml())
    return match.group(1) if match else html.escape(text)


def _highlight(code: str, language: str, dark: bool) -> str:
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import TextLexer, get_lexer_by_name, guess_lexer
        from pygments.util import ClassNotFound
    except ImportError:
        return html.escape(code)
    try:
        lexer = get_lexer_by_name(language) if language else guess_lexer(code)
    except ClassNotFound:
        lexer = TextLexer()
    style = "monokai" if dark else "friendly"
    out = highlight(code, lexer, HtmlFormatter(nowrap=True, noclasses=True, style=style))
    return out.rstrip("\n")


def to_html(text: str, dark: bool = False) -> str:
    """The whole message as HTML for a QTextBrowser."""
    background = "#1e1f22" if dark else "#f3f4f6"
    border = "#3a3b3f" if dark else "#d9dce1"
    link = "#8ab4f8" if dark else "#1a5fb4"
    parts: list[str] = []
    block = 0
    for seg in split_fences(text):
        if seg.kind == "prose":
            if seg.text.strip():
                parts.append(_prose_html(seg.text))
            continue
        label = html.escape(seg.language or "code")
        body = _highlight(seg.text, seg.language, dark)
        parts.append(
            # One framed cell holding a border-less header row: Qt would draw a grid between two framed cells.
            f'<table width="100%" cellspacing="0" cellpadding="6" style="background:{background}; '
            f'border:1px solid {border}; border-collapse:collapse; margin-top:4px; margin-bottom:4px;"><tr><td bgcolor="{background}">'
            f'<table width="100%" cellspacing="0" cellpadding="0" border="0" style="border:none;"><tr>'
            f'<td><span style="color:#888;">{label}</span></td>'
            f'<td align="right"><a href="copy:{block}" style="color:{link}; text-decoration:none;">Copy</a></td>'
            f'</tr></table>'
            f'<pre style="font-family:monospace; margin-top:6px; margin-bottom:0;">{body}</pre></td></tr></table>'
        )
        block += 1
    return "".join(parts)
