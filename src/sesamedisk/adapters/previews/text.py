"""Pygments for code and plain text, markdown-it-py (raw HTML off) for markdown."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from pygments import highlight as pygments_highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import TextLexer, get_lexer_for_filename
from pygments.util import ClassNotFound

SAFE_LINK_SCHEMES = ("http:", "https:", "mailto:")
_FORMATTER = HtmlFormatter(cssclass="highlight", wrapcode=True)


def _lexer(filename: str) -> Lexer:
    try:
        lexer: Lexer = get_lexer_for_filename(filename, stripnl=False)
    except ClassNotFound:
        lexer = TextLexer(stripnl=False)
    return lexer


def highlight(text: str, filename: str) -> str:
    """Highlighted HTML (`<div class="highlight"><pre>` with token spans), all text escaped."""
    return pygments_highlight(text, _lexer(filename), _FORMATTER)


def _safe_link(url: str) -> bool:
    """Relative links, anchors and http(s)/mailto only: no javascript:, data:, file: ..."""
    lowered = url.strip().lower()
    if ":" not in lowered.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]:
        return True
    return lowered.startswith(SAFE_LINK_SCHEMES)


def _link_open(self: RendererHTML, tokens: Sequence[Token], idx: int,
               options: OptionsDict, env: EnvType) -> str:
    tokens[idx].attrSet("rel", "noopener noreferrer nofollow")
    return self.renderToken(tokens, idx, options, env)


def _markdown_it() -> MarkdownIt:
    parser = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    parser.enable("table").enable("strikethrough")
    parser.validateLink = _safe_link  # type: ignore[method-assign]
    parser.add_render_rule("link_open", _link_open)
    return parser


_MARKDOWN = _markdown_it()


def markdown(text: str) -> str:
    """HTML of the markdown; raw HTML in the source comes out escaped, unsafe links as text."""
    env: dict[str, Any] = {}
    return str(_MARKDOWN.render(text, env))
