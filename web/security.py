"""Headers, role gates (the second line: services check permissions first) and
error pages that never leak a stack trace."""

from __future__ import annotations

import functools
import logging
import secrets
from pathlib import Path
from typing import Any, Callable

from flask import Flask, Response, jsonify, render_template, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from modsys.errors import DomainError

CSP = "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
log = logging.getLogger("modsys.web")


def add_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"  # appeal links carry a token in the path
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
        if _wants_json():
            return jsonify({"error": e.description}), e.code
        return render_template("error.html", code=e.code, message=e.description), e.code

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
