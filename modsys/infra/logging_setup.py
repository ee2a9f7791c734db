"""Process logging: one JSON object per line (production) or readable text.

Every line carries the request id of the request it belongs to (the web layer
sets `modsys.audit.request_id` per request, and audit events store the same
id), so a log line, an HTTP response (X-Request-Id) and an audit event can be
matched. Secrets are scrubbed from every line: the values of secret settings
seen in the environment, webhook URLs, appeal-link tokens, OAuth codes and
states in query strings, URL passwords and bearer tokens.
"""

from __future__ import annotations

import json as _json
import logging
import os
import re
import sys
from datetime import UTC, datetime
from typing import Any, Iterable, Mapping

from modsys.audit import request_id

# Settings whose values are secrets: scrubbed verbatim wherever they show up.
SECRET_ENV_VARS = ("SECRET_KEY", "MODSYS_WEBHOOK_MODLOG", "MODSYS_WEBHOOK_APPEALS", "MODSYS_WEBHOOK_LEADERSHIP")
REDACTED = "[redacted]"

_PATTERNS = (
    # Appeal links: the path segment after /appeal/ is the member's signed token
    # (werkzeug's and gunicorn's access lines, errors quoting the path).
    (re.compile(r"(/appeal/)[A-Za-z0-9_.=-]+"), r"\1" + REDACTED),
    # Discord (and lookalike) webhook URLs: the token is in the path.
    (re.compile(r"(https?://[^\s/]+/api(?:/v\d+)?/webhooks/)[^\s\"'<>]+"), r"\1" + REDACTED),
    # OAuth2 in a query string (werkzeug's access line for the callback): the
    # authorization code and the state are single-use secrets until used.
    (re.compile(r"([?&](?:code|state|code_verifier|access_token|refresh_token|token)=)[^\s&#\"']+", re.I),
     r"\1" + REDACTED),
    # user:password@ in any URL (DATABASE_URL, redis://...)
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@]+:)[^\s@/]+@", re.I), r"\1" + REDACTED + "@"),
    # Authorization headers and key=value secrets
    (re.compile(r"(\bbearer\s+)[A-Za-z0-9._~+/=-]+", re.I), r"\1" + REDACTED),
    (re.compile(r"(\b(?:password|passwd|secret|api_key|apikey|token)\b\s*[=:]\s*)[^\s,;&\"']+", re.I), r"\1" + REDACTED),
)

# LogRecord attributes that are not `extra=` fields.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()):
        # Longest first, so a value containing another is replaced whole; short
        # values would scrub ordinary words, and config checks refuse them anyway.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 8}, key=len, reverse=True)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> "Redactor":
        env = os.environ if environ is None else environ
        return cls(env.get(name, "") for name in SECRET_ENV_VARS)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text


class _Base(logging.Formatter):
    def __init__(self, *args: Any, redactor: Redactor | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.redact = redactor or Redactor.from_environ()


class JsonFormatter(_Base):
    """{"time", "level", "logger", "message", "request_id", [...extra], ["exc"]}"""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self.redact(record.getMessage()),
            "request_id": getattr(record, "request_id", None) or request_id.get(),
        }
        for key, value in vars(record).items():  # `extra=` fields, e.g. the access line's
            if key not in _STANDARD_ATTRS and key not in entry:
                entry[key] = value if isinstance(value, (int, float, bool, type(None))) else self.redact(str(value))
        if record.exc_info:
            entry["exc"] = self.redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = self.redact(self.formatStack(record.stack_info))
        return _json.dumps(entry, ensure_ascii=False)


class TextFormatter(_Base):
    def __init__(self, redactor: Redactor | None = None):
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s", redactor=redactor)

    def format(self, record: logging.LogRecord) -> str:
        record.request_id = getattr(record, "request_id", None) or request_id.get() or "-"
        return self.redact(super().format(record))


def formatter(json: bool) -> logging.Formatter:
    return JsonFormatter() if json else TextFormatter()


def configure_logging(settings: Any = None, *, json: bool | None = None, level: str | int | None = None,
                      stream: Any = None) -> logging.Handler:
    """Send all logging to one stream handler on the root logger (stderr).
    `json`/`level` default to the entry point's `settings` (MODSYS_LOG_FORMAT /
    MODSYS_LOG_LEVEL). Calling it again replaces the handler it installed (and nothing else)."""
    if json is None or level is None:
        if settings is None:
            raise TypeError("configure_logging needs the settings, or both json and level")
        json = settings.log_format == "json" if json is None else json
        level = settings.log_level if level is None else level
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_modsys", False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(json))
    handler._modsys = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # APScheduler narrates every job run at INFO; our jobs log their own summaries.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, root.level))
    logging.captureWarnings(True)
    return handler
