"""Send one message to one Discord webhook and report what happened.

One POST with a finite timeout, `?wait=true` and exactly the payload we validated,
through modsys.adapters.discord.http_session (the User-Agent Discord asks for); every outcome
becomes a `DeliveryResult`, and retry timing belongs to the outbox (`backoff_delay`).
Webhooks answer rate-limit headers like the rest of the API (rate-limits.mdx):
a webhook whose bucket is empty (`X-RateLimit-Remaining: 0`) is not posted to
before `X-RateLimit-Reset-After`; the message waits as after a 429, at no cost.

Webhook URLs carry their secret token in the path: nothing here logs or returns
a URL except through `redact_url`, and a filter scrubs tokens from urllib3's
debug log lines, which print the request path.
"""

from __future__ import annotations

import logging
import math
import random
import re
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

import requests

from modsys.adapters.discord import http_session
from modsys.adapters.discord.client import RateLimiter
from modsys.domain.clock import now
from modsys.notify.links import allowed_mentions

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
USERNAME_MAX = 80
_WEBHOOK = re.compile(r"^(?P<base>https?://[^/?#]+/api/(?:v\d+/)?webhooks/)(?P<id>\d+)/(?P<token>[^/?#]+)")
_TOKEN_IN_TEXT = re.compile(r"(/webhooks/\d+/)[^/?#\s\"'<>]+")
_ROUTE = "POST /webhooks/{webhook_id}/{webhook_token}"
# Per webhook, shared by every sender of the process (a sender is made per delivery
# run); on the outbox's clock, which schedules the retries. Only the buckets Discord
# announces in headers: the bot's global 50/s is the bot client's, not a webhook's.
WEBHOOK_LIMITS = RateLimiter(per_second=10**9, clock=lambda: now().timestamp())


@dataclass(frozen=True)
class DeliveryResult:
    ok: bool
    status: int | None = None  # None: no HTTP answer (timeout, connection error)
    retry_after: float | None = None  # seconds Discord asked us to wait (429 only)
    permanent: bool = False  # retrying the same message to the same URL cannot succeed
    error: str = ""  # short, for logs and the outbox's last_error; never holds the URL

    @property
    def retryable(self) -> bool:
        return not self.ok and not self.permanent


def redact_url(url: str) -> str:
    """A webhook URL safe to show in the UI and logs: `https://discord.com/api/webhooks/1234…/****`."""
    if not isinstance(url, str):
        return "****"
    if m := _WEBHOOK.match(url.strip()):
        return f"{m['base']}{m['id'][:4]}…/****"
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "****"
    # Not webhook-shaped: keep only scheme and host (no userinfo, path or query).
    return f"{parts.scheme}://{host}{port}/****" if parts.scheme and host else "****"


def backoff_delay(
    attempt: int,
    retry_after: float | None = None,
    base: float = 5.0,
    cap: float = 900.0,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number `attempt` (1 = first retry).

    A server-given `retry_after` wins, plus a small margin because Discord's
    reset is exact and our clock may run ahead; it is capped so that a bogus
    huge value cannot park a message forever. Otherwise capped exponential
    backoff, base * 2**(attempt-1), with +-10% jitter (`rand` in [0, 1)) so that
    messages that failed together do not retry in lockstep.
    """
    if retry_after is not None and math.isfinite(retry_after):
        return min(max(retry_after, 0.0) + 0.25, cap)
    exponent = min(max(attempt, 1) - 1, 60)  # beyond 2**60 everything is capped anyway
    delay = min(base * 2.0**exponent, cap)
    return min(delay * (0.9 + 0.2 * rand()), cap)


class DiscordSender:
    """Posts prepared payloads (see `build_message`). Stateless apart from its
    settings, so one instance can be shared by worker threads."""

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        username: str | None = None,
        avatar_url: str | None = None,
    ) -> None:
        if not (isinstance(timeout, (int, float)) and 0 < timeout < math.inf):
            raise ValueError("timeout must be a positive number of seconds")
        # Discord refuses every message (400) from a webhook with a bad username
        # override, so refuse the configuration instead, at start-up.
        if username is not None and (
            not 1 <= len(username.strip()) <= USERNAME_MAX
            or any(word in username.lower() for word in ("discord", "clyde"))
        ):
            raise ValueError(f'username must be 1-{USERNAME_MAX} characters without "discord" or "clyde"')
        if avatar_url is not None and urlsplit(avatar_url).scheme not in ("http", "https"):
            raise ValueError("avatar_url must be an http(s) URL")
        self.timeout = float(timeout)
        self.username = username.strip() if username else None
        self.avatar_url = avatar_url

    def send(self, url: str, message: Mapping[str, Any]) -> DeliveryResult:
        payload = dict(message)
        payload["allowed_mentions"] = allowed_mentions(message)  # never a ping but the leadership role's
        if self.username:
            payload["username"] = self.username
        if self.avatar_url:
            payload["avatar_url"] = self.avatar_url
        result = self._post(url, payload)
        where = redact_url(url)
        if result.ok:
            log.debug("discord delivery to %s ok (HTTP %s)", where, result.status)
        else:
            log.warning("discord delivery to %s failed: %s", where, result.error)
        return result

    def _post(self, url: str, payload: dict[str, Any]) -> DeliveryResult:
        hook = _WEBHOOK.match(url.strip())
        major = f"{hook['base']}{hook['id']}" if hook else redact_url(url)
        wait = WEBHOOK_LIMITS.acquire(_ROUTE, major)
        if wait > 0:  # Discord said the bucket is empty: asking now would only earn a 429
            return DeliveryResult(ok=False, status=429, retry_after=wait,
                                  error=f"not sent: rate limit bucket empty, retry after {wait:.1f}s")
        try:
            with http_session.session() as http:
                response = http.post(url, json=payload, params={"wait": True}, timeout=self.timeout)
        # str(exc) from requests/urllib3 quotes the URL, token included: never use it.
        except requests.Timeout:
            return DeliveryResult(ok=False, error=f"timed out after {self.timeout:g}s")
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema):
            return DeliveryResult(ok=False, permanent=True, error="invalid webhook URL")
        except requests.exceptions.InvalidJSONError:  # NaN, sets...: a bug upstream, not a network blip
            return DeliveryResult(ok=False, permanent=True, error="payload is not valid JSON")
        except requests.RequestException as exc:
            return DeliveryResult(ok=False, error=f"connection failed ({type(exc).__name__})")
        if response.status_code != 429:  # a 429's wait is the outbox's (it reschedules the message)
            WEBHOOK_LIMITS.update(_ROUTE, major, response.status_code, response.headers, _json_body(response))
        return _interpret(response, url)


def send(url: str, message: Mapping[str, Any], *, timeout: float = DEFAULT_TIMEOUT) -> DeliveryResult:
    """One-off send with default settings; see `DiscordSender`."""
    return DiscordSender(timeout=timeout).send(url, message)


def _interpret(response: requests.Response, url: str) -> DeliveryResult:
    status = response.status_code
    if 200 <= status < 300:
        return DeliveryResult(ok=True, status=status)
    body = _json_body(response)
    if status == 429:
        retry_after = _retry_after(response.headers.get("Retry-After"), body.get("retry_after"))
        scope = " (global)" if body.get("global") is True else ""
        wait = f", retry after {retry_after:g}s" if retry_after is not None else ""
        return DeliveryResult(ok=False, status=status, retry_after=retry_after, error=f"rate limited{scope}{wait}")
    # 4xx means the webhook is gone (401/403/404) or the payload is refused (400,
    # 413): the same request will fail again. 408 and 5xx are worth retrying.
    permanent = 400 <= status < 500 and status not in (408, 425)
    detail = str(body.get("message") or response.reason or "")
    if code := body.get("code"):
        detail += f" (code {code})"
    return DeliveryResult(ok=False, status=status, permanent=permanent, error=_scrub(f"HTTP {status} {detail}".strip(), url))


def _json_body(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _retry_after(header: str | None, body_value: Any) -> float | None:
    """Seconds from the Retry-After header (seconds or an HTTP date), else from the
    JSON body. The header wins: it is always seconds, while the body used
    milliseconds in old API versions, which unversioned webhook URLs may get."""
    for value in (header, body_value):
        if value is None or isinstance(value, bool):
            continue
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            try:
                seconds = (parsedate_to_datetime(str(value)) - now()).total_seconds()
            except (TypeError, ValueError):
                continue
        if math.isfinite(seconds):
            return max(seconds, 0.0)
    return None


def _scrub(text: str, url: str) -> str:
    """Discord's error text is echoed into logs and last_error; make sure it cannot
    carry the token, and keep it short."""
    if m := _WEBHOOK.match(url.strip()):
        text = text.replace(m["token"], "****")
    return _TOKEN_IN_TEXT.sub(r"\1****", text)[:300]


class _RedactWebhookTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/webhooks/" in message:
            record.msg, record.args = _TOKEN_IN_TEXT.sub(r"\1****", message), None
        return True


# urllib3 logs the request path (which holds the token) at DEBUG and on retries.
for _name in ("urllib3.connectionpool", "urllib3.util.retry"):
    _logger = logging.getLogger(_name)
    if not any(isinstance(f, _RedactWebhookTokens) for f in _logger.filters):
        _logger.addFilter(_RedactWebhookTokens())
