"""gunicorn settings for the modsys web tier: `gunicorn web.wsgi:app` from the
repo root (or `-c /path/to/gunicorn.conf.py`). Environment: WEB_CONCURRENCY,
PORT / MODSYS_BIND, MODSYS_LOG_FORMAT, MODSYS_LOG_LEVEL, PROMETHEUS_MULTIPROC_DIR;
anything else can be overridden with GUNICORN_CMD_ARGS."""

from __future__ import annotations

import glob
import os
import sys

from modsys.infra.config import ConfigError, check_production, check_web_workers, load_settings
from modsys.toxicity import available_cpus  # cheap: torch is imported lazily

_settings = load_settings()
MAX_DEFAULT_WORKERS = 12  # each worker holds its own DB pool; mind PostgreSQL's max_connections

wsgi_app = "web.wsgi:app"
bind = [b.strip() for b in (os.environ.get("MODSYS_BIND") or f"0.0.0.0:{os.environ.get('PORT', '8000')}").split(",")]
workers = int(os.environ.get("WEB_CONCURRENCY") or min(2 * available_cpus() + 1, MAX_DEFAULT_WORKERS))
# A few threads per worker: requests mostly wait on PostgreSQL.
worker_class = "gthread"
threads = 4
# Each worker builds its own app and engine after the fork: no connection is
# shared between processes, and nothing but request handling runs here.
preload_app = False
timeout = 30
graceful_timeout = 30  # finish in-flight requests on SIGTERM (docker stop gives 10s unless told more)
keepalive = 5
# The heartbeat file on tmpfs: a disk-backed /tmp in a container can stall it.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# No runtime control socket (gunicorn >= 24): nothing here uses it, and it
# would live in $HOME, which the container user can't write.
control_socket_disable = True

# gunicorn's access log is off: the app writes one line per request itself
# (logger modsys.access) with the request id and the route pattern, never the
# raw path, which can carry an appeal link's token.
accesslog = None
logger_class = "modsys.infra.gunicorn_log.RedactingLogger"  # if it is turned on, its lines never hold a token
errorlog = "-"
loglevel = _settings.log_level.lower()
_formatter = "modsys.infra.logging_setup." + ("JsonFormatter" if _settings.log_format == "json" else "TextFormatter")
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    # The root logger gets its handler in each worker (web/wsgi.py); the master
    # only logs through gunicorn.error.
    "root": {"level": _settings.log_level, "handlers": []},
    "loggers": {
        "gunicorn.error": {"level": _settings.log_level, "handlers": ["modsys"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False},
    },
    "handlers": {"modsys": {"class": "logging.StreamHandler", "formatter": "modsys", "stream": "ext://sys.stderr"}},
    "formatters": {"modsys": {"()": _formatter}},
}


def on_starting(server) -> None:
    # Refuse unsafe production settings in the master, before any worker forks
    # (a worker failing to boot would be retried over and over).
    try:
        check_production(_settings)
        check_web_workers(_settings, workers, bind_set=bool(os.environ.get("MODSYS_BIND")))
    except ConfigError as e:
        server.log.critical("%s", e)
        sys.exit(1)
    if server.cfg.accesslog:
        _access_log_to(server.cfg.accesslog)
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        # Files left by a previous run would be added to this run's counts.
        # Only prometheus_client's own files: the directory may be shared.
        os.makedirs(directory, exist_ok=True)
        for stale in glob.glob(os.path.join(directory, "*.db")):
            os.remove(stale)


def _access_log_to(target: str) -> None:
    """An operator turned gunicorn's access log on (`--access-logfile`): the
    logging config above gave it no handler, so give it one, in our line format
    (workers inherit it). Its lines are scrubbed by `logger_class` either way."""
    import logging

    from modsys.infra import logging_setup

    handler = logging.StreamHandler(sys.stdout) if target == "-" else logging.FileHandler(target)
    handler.setFormatter(logging_setup.formatter(_settings.log_format == "json"))
    logging.getLogger("gunicorn.access").addHandler(handler)


def child_exit(server, worker) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
