"""Untrusted text shown in Discord as the words it is, never as markup.

Discord renders markdown in embed descriptions and field values, including
masked links (`[text](url)`), headers (`#`, `-#`), lists, block quotes and
spoilers (Discord's "Markdown Text 101"). A member's appeal statement or a
display name like `[Official Discord Staff](https://evil.example/phish)` would
arrive as a clickable link that hides where it goes. Discord's markdown treats
a backslash before any punctuation as "this character, literally", so every
markup character gets one; the text reads the same. Mentions are not markup:
they are kept silent by `allowed_mentions` (see `embeds.NO_MENTIONS`).
"""

from __future__ import annotations

import re

# Inline markup (* _ ~ ` | emphasis, spoilers, code), links and their parts
# ([ ] ( ) < > and the ":" of a URL, so untrusted text never becomes a clickable
# link), line-start markup (# headers and subtext, - and + lists, > quotes), and
# the backslash itself so an escape can't be undone.
_MARKUP = re.compile(r"([\\*_~`|\[\]()<>#\-+:])")
_NUMBERED = re.compile(r"^(\s*\d+)\.", re.M)  # "1. " starts a numbered list


def escape_markdown(text: str | None) -> str:
    """`text` with every Discord markdown character escaped ("" for None)."""
    return _NUMBERED.sub(r"\1\\.", _MARKUP.sub(r"\\\1", text or ""))
