"""Plain message text fitted to Discord's 2,000-character `content` limit by
construction (docs/resources/Message.md, "Create Message": "Message contents (up
to 2000 characters)"): a template's own text (a link, an outcome) is never cut;
only its {named} parts (untrusted, already escaped text) give up characters."""

from __future__ import annotations

from modsys.notify.embeds import CONTENT_MAX, ELLIPSIS


def fit(template: str, limit: int = CONTENT_MAX, **parts: str) -> str:
    """`template` with its {named} parts filled in, the longest parts cut (with "…")
    until the whole is at most `limit` characters. The template's own text (the
    link, the outcome) is never cut."""
    fixed = len(template.format(**{k: "" for k in parts}))
    room = limit - fixed
    if room < 0:
        raise ValueError(f"the fixed text of this notice is {fixed} characters, over {limit}")
    lengths = {k: len(v) for k, v in parts.items()}
    if sum(lengths.values()) > room:
        # Water-filling, as fit_embeds: the largest level L with sum(min(len, L)) <= room.
        low, high = 0, max(lengths.values())
        while low < high:
            mid = (low + high + 1) // 2
            if sum(min(n, mid) for n in lengths.values()) <= room:
                low = mid
            else:
                high = mid - 1
        parts = {k: _cut(v, low) for k, v in parts.items()}
    return template.format(**parts)


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    head = text[:limit - 1]
    trailing = len(head) - len(head.rstrip("\\"))
    if trailing % 2:  # never leave half of an escape: it would escape the "…"
        head = head[:-1]
    return head + ELLIPSIS


def literal(text: str) -> str:
    """Fixed text goes through str.format: keep its braces literal."""
    return text.replace("{", "{{").replace("}", "}}")
