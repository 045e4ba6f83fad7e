"""HTML reduced to text for web_fetch (pure)."""

from __future__ import annotations

from gateway.runtime.html_text import to_text


def test_scripts_styles_and_the_head_are_dropped_and_entities_decoded() -> None:
    html = (
        "<html><head><title>T &amp; U</title><script>alert(1)</script><meta name=x></head>"
        "<body><style>p{}</style><noscript>enable js</noscript><p>Fish &amp; chips&nbsp;&lt;3</p>"
        "<svg><text>drawn</text></svg></body></html>"
    )
    assert to_text(html) == "# T & U\n\nFish & chips\xa0<3"


def test_blocks_become_lines_and_links_keep_their_targets() -> None:
    html = (
        "<div>one</div><div>two<br>three</div><h2>Head</h2><ol><li>a</li><li><a href='https://x.example/'>x</a></li>"
        "</ol><a href='#top'>top</a> <a href='https://same.example/'>https://same.example/</a>"
    )
    assert to_text(html) == (
        "one\n\ntwo\nthree\n\n## Head\n\n- a\n\n- x (https://x.example/)\n\ntop https://same.example/"
    )


def test_broken_markup_does_not_fail() -> None:
    assert to_text("<p>unclosed <b>bold <script>never closed") == "unclosed bold"
    assert to_text("plain text, no tags") == "plain text, no tags"
