"""Visible text of an HTML page, through lxml's (libxml2) parser.

Python's ``html.parser`` is quadratic on unclosed tags (400 KB of ``<a`` took 149 s);
libxml2 is linear. The page is fed in pieces and walked without recursion, checking
``cancel`` as it goes.
"""

from __future__ import annotations

import re
import threading

from engine.documents.model import check_cancel

_FEED_CHARS = 256 * 1024  # cancel is checked between pieces fed to the parser
_CANCEL_EVERY = 8192  # tree events between cancel checks
_SKIP_TAGS = {"script", "style", "noscript", "template", "svg"}
_BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table",
    "section", "article", "header", "footer", "nav", "aside", "main", "pre", "blockquote", "hr", "figure",
    "figcaption", "title", "form", "details", "summary",
}  # fmt: skip


def html_to_text(html: str, cancel: threading.Event | None = None, name: str = "") -> str:
    """Visible text of an HTML page: no tags, scripts or styles; paragraphs on their own lines."""
    parts = _visible_parts(html, cancel, name)
    lines = (re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in "".join(parts).split("\n"))
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def _visible_parts(html: str, cancel: threading.Event | None, name: str) -> list[str]:
    from lxml import etree  # deferred: only HTML needs it

    # No network, no entities beyond HTML's own, comments and processing instructions dropped.
    parser = etree.HTMLParser(recover=True, no_network=True, remove_comments=True, remove_pis=True)
    for at in range(0, len(html), _FEED_CHARS):
        check_cancel(cancel, name)
        parser.feed(html[at : at + _FEED_CHARS])
    try:
        root = parser.close()
    except etree.XMLSyntaxError:  # nothing parseable at all
        return []
    if root is None:
        return []
    parts: list[str] = []
    skip = 0
    for count, (event, element) in enumerate(etree.iterwalk(root, events=("start", "end"))):
        if count % _CANCEL_EVERY == 0:
            check_cancel(cancel, name)
        tag = element.tag.lower() if isinstance(element.tag, str) else ""
        if event == "start":
            if tag in _SKIP_TAGS:
                skip += 1
            elif tag in _BLOCK_TAGS:
                parts.append("\n")
            elif tag in ("td", "th"):
                parts.append("\t")
            if not skip and element.text:
                parts.append(element.text)
        else:
            if tag in _SKIP_TAGS:
                skip -= 1
            elif tag in _BLOCK_TAGS and tag != "br":  # <br> breaks once, not twice
                parts.append("\n")
            if not skip and element.tail:
                parts.append(element.tail)
    return parts
