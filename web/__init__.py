"""The Flask delivery layer: parse the request, call a service, render."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

from flask import Flask, g, request
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from modsys import audit
from modsys.infra.config import Settings, bind_settings, check_production, load_settings
from modsys.infra.db import make_engine
from web import context
from web.extensions import csrf, limiter, login_manager
from web.security import add_headers, register_error_handlers, secret_key_for


class BoundedInt(IntegerConverter):
    def __init__(self, url_map, fixed_digits=0, min=None, max=None, signed=False):  # noqa: A002
        super().__init__(url_map, fixed_digits, min, 2**31 - 1 if max is None else max, signed)


def create_app(settings: Settings | None = None, engine: Engine | None = None, **overrides) -> Flask:
    """The web app for every community of the database. Side-effect free: it writes
    nothing (no schema, no files); `modsys serve`/`init`/`db upgrade` prepare the database."""
    settings = settings or load_settings()  # only the Flask CLI (`flask --app web ...`) calls it bare: an entry point
    check_production(settings)  # refuse unsafe production settings before touching anything
    app = Flask(__name__, instance_path=str(Path.cwd() / "instance"))
    engine = engine or make_engine(settings.database_url)
    bind_settings(engine, settings)  # the services read this same object (modsys.infra.config.settings_of)
    secret = secret_key_for(settings.secret_key, Path(app.instance_path))
    https = settings.base_url.startswith("https://")
    app.config.update(
        SECRET_KEY=secret,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=https,
        SESSION_COOKIE_NAME="modsys_session",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        MAX_CONTENT_LENGTH=32 * 1024 * 1024,  # hard ceiling; policy limits are checked per file
        WTF_CSRF_TIME_LIMIT=None,  # tokens live as long as the session
        RATELIMIT_STORAGE_URI=settings.ratelimit_storage,
        PREFERRED_URL_SCHEME="https" if https else "http",
    )
    app.config.update(overrides)
    if settings.trusted_proxies:
        # Behind a reverse proxy, rate limits and logs need the client's address, not the proxy's.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    # Ids in URLs fit the database's integer columns; bigger ones are a plain 404.
    app.url_map.converters["int"] = BoundedInt
    app.extensions["modsys"] = context.State(settings=settings, engine=engine, secret_key=secret)

    csrf.init_app(app)
    login_manager.init_app(app)
    # The limiter is one shared object: set each new app's choice before binding,
    # since a disabled limiter skips installing its request hooks.
    limiter.enabled = app.config.get("RATELIMIT_ENABLED", True)
    limiter.init_app(app)

    @app.before_request
    def _request_id() -> None:
        g.request_id = request.headers.get("X-Request-Id", "")[:64] or uuid.uuid4().hex
        audit.request_id.set(g.request_id)

    @app.after_request
    def _headers(response):
        response.headers["X-Request-Id"] = g.get("request_id", "")
        return add_headers(response)

    app.teardown_appcontext(context.close_db)
    app.context_processor(context.template_globals)
    app.jinja_env.filters.update(when=context.when, rel=context.relative, nl2br=context.nl2br)
    register_error_handlers(app)

    from web import (
        admin,
        api,
        auth,
        dashboard,
        discord,
        gateway,
        leadership,
        ops,
        portal,
        public,
        workspace,
    )

    for module in (auth, dashboard, leadership, admin, portal, public, api, ops, discord, workspace, gateway):
        app.register_blueprint(module.bp)
    csrf.exempt(api.bp)  # API clients authenticate with a key, not a cookie
    return app
