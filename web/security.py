"""Headers, role gates (the second line: services check permissions first) and
error pages that never leak a stack trace."""

from __future__ import annotations

import functools
import logging
import secrets
import time
from pathlib import Path
from typing import Any, Callable

from flask import Flask, Response, current_app, jsonify, render_template, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from modsys.domain.errors import DomainError

HSTS_MAX_AGE = 365 * 24 * 3600  # a year: browsers keep using HTTPS even if someone types http://
RETRY_AFTER_DB_DOWN = 30  # seconds; a restart or failover of PostgreSQL usually takes less
RETRY_AFTER_NO_STORAGE = 300  # a full disk or a read-only database waits for an operator
CSP = "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
log = logging.getLogger("modsys.web")


def add_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    # Appeal links carry a token in the path: it must never reach another site.
    # "same-origin" still sends the Referer to this site, which Flask-WTF's
    # CSRF check requires over HTTPS (WTF_CSRF_SSL_STRICT); "no-referrer" made
    # every form POST a 400 there.
    response.headers["Referrer-Policy"] = "same-origin"
    if request.is_secure and current_app.extensions["modsys"].settings.is_production:
        response.headers["Strict-Transport-Security"] = f"max-age={HSTS_MAX_AGE}"
    if request.path.startswith(("/appeal/", "/login", "/admin")):
        response.headers["Cache-Control"] = "no-store"
    return response


def roles_required(*roles: str) -> Callable:
    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            from web.extensions import login_manager

            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in roles:
                return render_template("error.html", code=403,
                                       message=f"This page is for {' or '.join(roles)}; you are {current_user.role}."), 403
            return view(*args, **kwargs)

        return wrapped

    return decorate


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def domain_error(e: DomainError):
        if _wants_json():
            return jsonify({"error": e.message, "field": e.field}), e.http_status
        return render_template("error.html", code=e.http_status, message=e.message), e.http_status

    @app.errorhandler(CSRFError)
    def csrf_error(e: CSRFError):
        message = "The form expired or was sent from another site. Go back, reload the page and try again."
        return render_template("error.html", code=400, message=message), 400

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        # The exception's own headers (405's Allow, 429's Retry-After) go with the page.
        headers = [(k, v) for k, v in e.get_headers() if k.lower() != "content-type"]
        if _wants_json():
            return jsonify({"error": e.description}), e.code, headers
        return render_template("error.html", code=e.code, message=e.description), e.code, headers

    @app.errorhandler(DBAPIError)
    @app.errorhandler(PoolTimeout)
    def database_error(e: Exception):
        if problem := storage_problem(e):
            log.error("database refused a write: %s", problem)
            app.extensions["modsys"].storage_failure = (time.monotonic(), problem)
            return _unavailable(f"The service can't save changes right now: {problem}. Nothing was changed; "
                                "the operators are told (/readyz). Try again later.", RETRY_AFTER_NO_STORAGE)
        if not _database_unavailable(e):
            return unexpected(e)
        log.error("database unavailable: %s", type(getattr(e, "orig", None) or e).__name__)
        message = "The service is briefly unavailable (its database can't be reached). Nothing was changed; try again shortly."
        return _unavailable(message, RETRY_AFTER_DB_DOWN)

    @app.errorhandler(Exception)
    def unexpected(e: Exception):
        ref = secrets.token_hex(4)
        log.exception("unhandled error (ref %s)", ref)
        if app.debug:
            raise e
        message = f"Something went wrong on our side. Nothing was changed. Reference: {ref}."
        if _wants_json():
            return jsonify({"error": message}), 500
        return render_template("error.html", code=500, message=message), 500


def _unavailable(message: str, retry_after: int):
    headers = {"Retry-After": str(retry_after)}
    if _wants_json():
        return jsonify({"error": message}), 503, headers
    # Not the site template: it looks up the logged-in user, in a database that can't serve.
    page = f"<!doctype html><meta charset=utf-8><title>503 Service Unavailable</title><h1>503</h1><p>{message}</p>"
    return Response(page, 503, headers, mimetype="text/html")


# PostgreSQL SQLSTATEs (Appendix A of its manual) and SQLite messages that mean
# "the database can't store anything": no request succeeds until an operator acts.
_PG_STORAGE = {"53100": "its disk is full", "25006": "its database is read-only (a standby, or set read-only)",
               "58030": "its disk failed (I/O error)"}
_SQLITE_STORAGE = (("readonly database", "its database is read-only"), ("disk is full", "its disk is full"),
                   ("disk i/o error", "its disk failed (I/O error)"))


def storage_problem(e: BaseException | None) -> str | None:
    """Why the database refused to store anything (disk full, read-only), or None.
    The exception's causes count too: SQLite ends the transaction on a full disk,
    so what surfaces is often the failed savepoint rollback that followed."""
    seen = 0
    while e is not None and seen < 8:
        orig = getattr(e, "orig", None) or e
        if state := getattr(orig, "sqlstate", None):
            if state in _PG_STORAGE:
                return _PG_STORAGE[state]
        else:
            text = str(orig).lower()
            if why := next((why for needle, why in _SQLITE_STORAGE if needle in text), None):
                return why
        e, seen = e.__cause__ or e.__context__, seen + 1
    return None


def _database_unavailable(e: Exception) -> bool:
    """A lost, refused or exhausted connection (the database is down, restarting
    or busy), not a bad statement: the same request may succeed if retried."""
    if isinstance(e, PoolTimeout) or (isinstance(e, DBAPIError) and e.connection_invalidated):
        return True
    orig = getattr(e, "orig", None)
    if type(orig).__module__.startswith("psycopg"):
        return isinstance(e, (OperationalError, InterfaceError))  # connection-level in psycopg
    return str(orig).startswith(("database is locked", "unable to open database file"))  # SQLite


def secret_key_for(configured: str | None, instance_dir: Path, *, create: bool = False) -> str:
    """The configured key, else (development only) the one kept on disk so sessions
    and appeal links survive a restart. Only `modsys serve` creates that file
    (`create=True`); an app built elsewhere without one uses a key for this process."""
    if configured:
        return configured
    path = instance_dir / "secret_key"
    if not path.exists():
        if not create:
            return secrets.token_hex(32)
        instance_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip()
