"""The WSGI entry for production: `gunicorn web.wsgi:app` (settings in
gunicorn.conf.py). Web workers only serve requests: the scheduler
(`modsys scheduler`) and the scoring worker (`modsys worker`) are separate
processes, so adding web workers never adds a second scheduler."""

from __future__ import annotations

import gc

from modsys.infra.config import load_settings
from modsys.infra.logging_setup import configure_logging
from web import create_app

settings = load_settings()  # built once for this process; everything below gets this object
configure_logging(settings)  # MODSYS_LOG_FORMAT / MODSYS_LOG_LEVEL
app = create_app(settings)  # refuses unsafe production settings (modsys.infra.config.check_production)

# Everything imported so far lives as long as the worker: move it out of the
# cyclic GC's reach, so full collections stay short (bench/RESULTS.md: the
# heaviest case file's p95 went from ~80 ms to ~33 ms).
gc.collect()
gc.freeze()
