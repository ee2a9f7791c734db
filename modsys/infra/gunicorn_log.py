"""gunicorn's access log with secrets scrubbed (`logger_class` in gunicorn.conf.py).

Off by default (the app writes its own access line with the route pattern), but
an operator can turn it on (`--access-logfile -`); its lines quote the raw request
path, which for an appeal link is the member's token. gunicorn formats those
lines itself, outside our log formatters, so the values are scrubbed here."""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from modsys.infra.logging_setup import Redactor


class RedactingLogger(Logger):
    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        self.redact = Redactor.from_environ()

    def atoms(self, resp: Any, req: Any, environ: dict, request_time: Any) -> dict:
        return {k: self.redact(v) if isinstance(v, str) else v
                for k, v in super().atoms(resp, req, environ, request_time).items()}
