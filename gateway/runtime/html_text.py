"""HTML reduced to the text a model reads (pure; the standard library's parser, which never fails on bad markup).

Scripts, styles, templates and other non-content elements are dropped; block elements start new lines; runs of
blank space collapse; the ``<title>`` comes first as ``# title``; links keep their target as ``text (url)`` when the
two differ, so a model can fetch what a page points to."""

from __future__ import annotations

import re
from html.parser import HTMLParser

SKIPPED = frozenset({"script", "style", "noscript", "template", "svg", "head", "iframe", "object", "canvas"})
BLOCKS = frozenset(
    {
        "p", "div", "br", "li", "ul", "ol", "tr", "table", "section", "article", "header", "footer", "nav", "main",
        "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "hr", "dd", "dt", "dl", "form", "figure", "aside",
    }
)  # fmt: skip
_SPACES = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n\s*\n\s*\n+")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self.skipping: list[str] = []
        self.in_title = False
        self.link: tuple[str, int] | None = None  # (href, index of the first part inside the link)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self.in_title = True
        elif tag in SKIPPED:
            self.skipping.append(tag)
        elif not self.skipping:
            if tag in BLOCKS:
                self.parts.append("\n")
            if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
                self.parts.append("#" * int(tag[1]) + " ")
            elif tag == "li":
                self.parts.append("- ")
            elif tag == "a":
                href = dict(attrs).get("href")
                self.link = (href, len(self.parts)) if href and not href.startswith(("#", "javascript:")) else None

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        elif tag in SKIPPED:
            if tag in self.skipping:
                del self.skipping[len(self.skipping) - 1 - self.skipping[::-1].index(tag) :]
        elif not self.skipping:
            if tag == "a" and self.link is not None:
                href, first = self.link
                text = "".join(self.parts[first:]).strip()
                if text and text != href:
                    self.parts.append(f" ({href})")
                self.link = None
            if tag in BLOCKS:
                self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
        elif not self.skipping:
            self.parts.append(data)


def to_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = (_SPACES.sub(" ", line).strip() for line in "".join(parser.parts).split("\n"))
    body = _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
    title = _SPACES.sub(" ", "".join(parser.title)).strip()
    return f"# {title}\n\n{body}" if title else body
