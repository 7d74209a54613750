"""Article bodies rendered safe: what a writer types never runs in a reader's browser."""

from __future__ import annotations

import pytest

from itsm_knowledge.domain.markdown import render


@pytest.mark.parametrize("markdown", [
    "<script>alert(1)</script>",
    "before <script>alert(1)</script> after",
    '<img src="x" onerror="alert(1)">',
    '<div onclick="alert(1)">click</div>',
    '<a href="https://example.org" onclick="alert(1)">x</a>',
    "<iframe src='https://evil.example'></iframe>",
])
def test_raw_html_is_shown_as_text_never_as_markup(markdown):
    html = render(markdown)
    assert "<script" not in html and "<img" not in html and "<div" not in html and "<iframe" not in html
    assert "<a " not in html, "raw HTML is text, not a link"


@pytest.mark.parametrize("markdown", [
    "[x](javascript:alert(1))", "[x](JaVaScRiPt:alert(1))", "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](javascript:alert(1))", "![x](data:image/png;base64,iVBORw0KGgo=)", "![x](data:image/svg+xml;base64,PHN2Zz4=)",
    "<javascript:alert(1)>",
])
def test_links_and_images_of_other_schemes_lose_their_address(markdown):
    html = render(markdown)
    for scheme in ("javascript:", "vbscript:", "data:"):
        assert f'href="{scheme}' not in html.lower() and f'src="{scheme}' not in html.lower(), html
    assert 'href="javascript' not in html.lower() and "src=\"data" not in html.lower()


def test_event_handler_attributes_never_survive():
    html = render('[x](https://example.org "t") ![y](https://example.org/y.png "z")\n\n```js onclick=alert(1)\nx\n```')
    assert "onclick" not in html and "onerror" not in html
    assert '<a href="https://example.org" title="t" rel="noopener noreferrer nofollow">x</a>' in html
    assert '<img src="https://example.org/y.png" alt="y" title="z">' in html


def test_html_in_code_is_escaped_entities_and_all():
    html = render("```html\n<script>alert('&amp;')</script>\n```\n\nInline `<b onclick=x>` too.")
    assert "<script" not in html and "<b " not in html
    assert "&lt;script&gt;alert('&amp;amp;')&lt;/script&gt;" in html
    assert '<code class="language-html">' in html and "<code>&lt;b onclick=x&gt;</code>" in html


def test_only_a_language_is_kept_as_a_class():
    assert '<code class="language-python">' in render("```python\nx = 1\n```")
    assert "class=" not in render("```\nx = 1\n```")


def test_ordinary_markdown_renders():
    html = render("# Title\n\n## Steps\n\n1. one\n2. two\n\n- a\n- b\n\n**bold** *em* ~~old~~\n\n"
                  "| a | b |\n|---|---|\n| 1 | 2 |\n\n> quoted\n\n[mail](mailto:desk@example.org) [doc](/kb/1)")
    for part in ("<h1>Title</h1>", "<h2>Steps</h2>", "<ol>", "<li>one</li>", "<ul>", "<strong>bold</strong>",
                 "<em>em</em>", "<s>old</s>", "<table>", "<th>a</th>", "<td>2</td>", "<blockquote>",
                 '<a href="mailto:desk@example.org" rel="noopener noreferrer nofollow">mail</a>',
                 '<a href="/kb/1" rel="noopener noreferrer nofollow">doc</a>'):
        assert part in html, (part, html)


def test_a_bare_address_is_not_linked():
    assert "<a" not in render("see https://example.org for more")
