"""Outbox -> Discord delivery primitives: build a payload Discord will accept
(`build_message`), send it once and report the outcome (`send`/`DiscordSender`),
and decide when to try again (`backoff_delay`). Retrying is the outbox's job."""

from modsys.notify.discord import (
    DEFAULT_TIMEOUT,
    DeliveryResult,
    DiscordSender,
    backoff_delay,
    redact_url,
    send,
)
from modsys.notify.embeds import (
    build_embed,
    build_message,
    embed_length,
    fit_embeds,
    truncate,
    validate_message,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "DeliveryResult",
    "DiscordSender",
    "backoff_delay",
    "build_embed",
    "build_message",
    "embed_length",
    "fit_embeds",
    "redact_url",
    "send",
    "truncate",
    "validate_message",
]
