"""Turn an outbox event (plain JSON) into a Discord webhook payload that Discord
will accept.

Discord answers 400 to a message that breaks any of its embed limits, and the
outbox would then retry a message that can never be delivered. So nothing here
rejects: over-long text is cut and ends with an ellipsis, surplus fields and
embeds are replaced by a "… N more" marker, malformed optional values (url,
colour, timestamp) are dropped.

The 6000-character budget shared by all embeds is met by "water-filling": find
the largest length L such that cutting every text part longer than L down to L
fits the budget, then cut only those parts. Short parts (titles, field names,
footers like "Case #12") stay whole and the longest texts (usually
descriptions and evidence quotes) give up characters first, evenly.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any, Iterator, Mapping
from urllib.parse import urlsplit

from modsys.notify.links import NO_MENTIONS, allowed_mentions  # the one rule for pings

ELLIPSIS = "…"
# Discord refuses empty or whitespace-only field names/values; a zero-width space is
# the conventional stand-in.
BLANK = "\u200b"

# https://discord.com/developers/docs/resources/message#embed-object-embed-limits
CONTENT_MAX = 2000
EMBEDS_MAX = 10
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
AUTHOR_MAX = 256
TOTAL_MAX = 6000
URL_MAX = 2048



def truncate(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` characters, marking the cut with "…"."""
    if len(text) <= limit:
        return text
    return text[: limit - 1] + ELLIPSIS if limit > 0 else ""


def build_message(event: Mapping[str, Any], *, content: str | None = None) -> dict[str, Any]:
    """Build a Discord webhook payload from an outbox event.

    `event` is one embed spec (title, description, fields, url, color, footer,
    author, timestamp) or carries a list of specs under "embeds" (which then wins
    over top-level embed keys). "content" (plain text above the embeds) may come
    from the event or the argument. Never raises on odd input; the result is
    always within Discord's limits and never pings anyone.
    """
    event = event if isinstance(event, Mapping) else {}
    specs = event.get("embeds") if isinstance(event.get("embeds"), list) else [event]
    embeds = [e for e in (build_embed(s) for s in specs if isinstance(s, Mapping)) if e]
    text = _text(content if content is not None else event.get("content"))
    message: dict[str, Any] = {"embeds": fit_embeds(embeds), "allowed_mentions": dict(NO_MENTIONS)}
    if text.strip():
        message["content"] = truncate(text, CONTENT_MAX)
    elif not message["embeds"]:
        message["content"] = "(empty notification)"  # Discord refuses an empty message
    return message


def build_embed(spec: Mapping[str, Any]) -> dict[str, Any]:
    """One embed with every per-part limit applied (not yet the 6000 total).
    Returns {} when the spec holds nothing displayable."""
    embed: dict[str, Any] = {}
    if (title := _text(spec.get("title"))).strip():
        embed["title"] = truncate(title, TITLE_MAX)
    if (description := _text(spec.get("description"))).strip():
        embed["description"] = truncate(description, DESCRIPTION_MAX)
    fields = spec.get("fields")
    if isinstance(fields, list):
        embed["fields"] = [_field(f) for f in fields if isinstance(f, Mapping)]
        if not embed["fields"]:
            del embed["fields"]
    if footer := _named(spec.get("footer"), "text", FOOTER_MAX):
        embed["footer"] = footer
    if author := _named(spec.get("author"), "name", AUTHOR_MAX):
        embed["author"] = author
    if not embed:
        return {}
    if url := _url(spec.get("url")):
        embed["url"] = url
    if (color := _color(spec.get("color"))) is not None:
        embed["color"] = color
    if timestamp := _timestamp(spec.get("timestamp")):
        embed["timestamp"] = timestamp
    return embed


def fit_embeds(embeds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Enforce the count limits and the shared 6000-character budget (see module
    docstring). Input embeds must already satisfy the per-part limits
    (`build_embed` does that); they are copied, not modified."""
    embeds = copy.deepcopy(embeds)
    if len(embeds) > EMBEDS_MAX:
        hidden = len(embeds) - (EMBEDS_MAX - 1)
        embeds = embeds[: EMBEDS_MAX - 1] + [{"description": f"{ELLIPSIS} {hidden} more not shown"}]
    for embed in embeds:
        fields = embed.get("fields", [])
        if len(fields) > FIELDS_MAX:
            hidden = len(fields) - (FIELDS_MAX - 1)
            embed["fields"] = fields[: FIELDS_MAX - 1] + [
                {"name": ELLIPSIS, "value": f"{hidden} more fields not shown", "inline": False}
            ]

    lengths = [len(holder[key]) for holder, key in _text_parts(embeds)]
    if sum(lengths) > TOTAL_MAX:
        # At most 10 embeds x 54 parts = 540 parts, so a level of 11 always fits.
        low, high = 1, max(lengths)
        while low < high:
            mid = (low + high + 1) // 2
            if sum(min(n, mid) for n in lengths) <= TOTAL_MAX:
                low = mid
            else:
                high = mid - 1
        # The level is whole characters; hand the leftover to the first long parts.
        spare = TOTAL_MAX - sum(min(n, low) for n in lengths)
        for holder, key in _text_parts(embeds):
            if len(holder[key]) > low:
                holder[key] = truncate(holder[key], low + (spare > 0))
                spare -= 1
    return embeds


def embed_length(embed: Mapping[str, Any]) -> int:
    """Characters of `embed` that count towards Discord's 6000 total."""
    return sum(len(holder[key]) for holder, key in _text_parts([embed]))  # type: ignore[list-item]


def validate_message(message: Mapping[str, Any]) -> list[str]:
    """Problems that would make Discord refuse (or ping from) `message`; [] if none."""
    problems = []

    def check(value: Any, limit: int, what: str, required: bool = False) -> None:
        if value is None and not required:
            return
        if not isinstance(value, str) or (required and not value.strip()):
            problems.append(f"{what} must be a non-empty string")
        elif len(value) > limit:
            problems.append(f"{what} is {len(value)} characters (max {limit})")

    if message.get("allowed_mentions") != allowed_mentions(message):
        problems.append('allowed_mentions must be {"parse": []}, or {"roles": [id]} with that role mentioned first')
    check(message.get("content"), CONTENT_MAX, "content")
    embeds = message.get("embeds") or []
    if not embeds and not (message.get("content") or "").strip():
        problems.append("message is empty")
    if len(embeds) > EMBEDS_MAX:
        problems.append(f"{len(embeds)} embeds (max {EMBEDS_MAX})")
    for i, embed in enumerate(embeds):
        check(embed.get("title"), TITLE_MAX, f"embeds[{i}].title")
        check(embed.get("description"), DESCRIPTION_MAX, f"embeds[{i}].description")
        check((embed.get("footer") or {}).get("text"), FOOTER_MAX, f"embeds[{i}].footer.text")
        check((embed.get("author") or {}).get("name"), AUTHOR_MAX, f"embeds[{i}].author.name")
        fields = embed.get("fields") or []
        if len(fields) > FIELDS_MAX:
            problems.append(f"embeds[{i}] has {len(fields)} fields (max {FIELDS_MAX})")
        for j, field in enumerate(fields):
            check(field.get("name"), FIELD_NAME_MAX, f"embeds[{i}].fields[{j}].name", required=True)
            check(field.get("value"), FIELD_VALUE_MAX, f"embeds[{i}].fields[{j}].value", required=True)
    if not problems and (total := sum(embed_length(e) for e in embeds)) > TOTAL_MAX:
        problems.append(f"embeds total {total} characters (max {TOTAL_MAX})")
    return problems


# --- helpers -------------------------------------------------------------------


def _text_parts(embeds: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], str]]:
    """(container, key) of every string that counts towards the 6000 total."""
    for embed in embeds:
        for key in ("title", "description"):
            if isinstance(embed.get(key), str):
                yield embed, key
        for holder, key in ((embed.get("footer"), "text"), (embed.get("author"), "name")):
            if isinstance(holder, dict) and isinstance(holder.get(key), str):
                yield holder, key
        for field in embed.get("fields") or []:
            yield field, "name"
            yield field, "value"


def _text(value: Any) -> str:
    if value is None:
        return ""
    try:
        text = value if isinstance(value, str) else str(value)
    except ValueError:  # e.g. an int too long to print
        return ""
    # Lone surrogates (possible from JSON "\ud800") cannot be encoded for the wire.
    return text.encode("utf-8", "replace").decode("utf-8")


def _field(spec: Mapping[str, Any]) -> dict[str, Any]:
    name = _text(spec.get("name"))
    value = _text(spec.get("value"))
    return {
        "name": truncate(name, FIELD_NAME_MAX) if name.strip() else BLANK,
        "value": truncate(value, FIELD_VALUE_MAX) if value.strip() else BLANK,
        "inline": spec.get("inline") is True,
    }


def _named(value: Any, key: str, limit: int) -> dict[str, str] | None:
    """Footer/author given as a plain string or as {key: ..., "icon_url": ...}."""
    spec = value if isinstance(value, Mapping) else {key: value}
    text = _text(spec.get(key))
    if not text.strip():
        return None
    out = {key: truncate(text, limit)}
    for extra in ("url", "icon_url") if key == "name" else ("icon_url",):
        if url := _url(spec.get(extra)):
            out[extra] = url
    return out


def _url(value: Any) -> str | None:
    # Discord refuses the whole message for one malformed URL, so drop it instead.
    if not isinstance(value, str) or len(value) > URL_MAX or any(c.isspace() for c in value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return value if parts.scheme in ("http", "https") and parts.netloc else None


def _color(value: Any) -> int | None:
    if isinstance(value, str):
        try:
            value = int(value.removeprefix("#").removeprefix("0x"), 16)
        except ValueError:
            return None
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0xFFFFFF:
        return value
    return None


def _timestamp(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)  # the domain stores UTC everywhere
        # Normalised to UTC: Discord's parser is stricter than fromisoformat (odd offsets).
        return when.astimezone(UTC).isoformat()
    except (ValueError, OverflowError):
        return None
