"""An article's Markdown as HTML that is safe to show in an agent's browser (pure).

markdown-it-py renders CommonMark with raw HTML off (a `<script>` in the text stays text), tables and strikethrough
on, and no linkify (a bare word never becomes a link); nh3 (ammonia) then keeps only the tags and attributes listed
here and links of the schemes listed here, whatever the renderer let through.
"""

from __future__ import annotations

import re

import nh3
from markdown_it import MarkdownIt

TAGS = frozenset({
    "a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "img", "li", "ol", "p",
    "pre", "s", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
})
ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "code": {"class"}, "ol": {"start"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer nofollow"
# A fenced block's language (```python -> class="language-python"): the only class kept.
_LANGUAGE = re.compile(r"language-[A-Za-z0-9_+#.-]{1,40}")

_renderer = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(["table", "strikethrough"])


def _kept(tag: str, attribute: str, value: str) -> str | None:
    if tag == "code" and attribute == "class":
        return value if _LANGUAGE.fullmatch(value) else None
    return value


def render(markdown: str) -> str:
    """The sanitised HTML of an article body."""
    return nh3.clean(_renderer.render(markdown), tags=set(TAGS), attributes={k: set(v) for k, v in ATTRIBUTES.items()},
                     attribute_filter=_kept, url_schemes=set(URL_SCHEMES), link_rel=LINK_REL, strip_comments=True)
