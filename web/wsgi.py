"""The WSGI entry for production: `gunicorn web.wsgi:app` (settings in
gunicorn.conf.py). Web workers only serve requests: the scheduler
(`modsys scheduler`) and the scoring worker (`modsys worker`) are separate
processes, so adding web workers never adds a second scheduler."""

from __future__ import annotations

from modsys.logging_setup import configure_logging
from web import create_app

configure_logging()  # MODSYS_LOG_FORMAT / MODSYS_LOG_LEVEL
app = create_app()  # refuses unsafe production settings (modsys.config.check_production)
