"""`modsys serve`: the embedded default in one process (SQLite file, demo data
on first start, in-process scheduler). Production runs gunicorn instead."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import click
from werkzeug.serving import make_server

from modsys.community import ensure_community
from modsys.infra import migrate
from modsys.infra.config import (
    ConfigError,
    bind_settings,
    check_production,
    load_settings,
)
from modsys.infra.db import make_engine, new_session
from modsys.infra.logging_setup import configure_logging
from modsys.runtime import demo
from modsys.services.staff import any_staff
from web import create_app
from web.security import secret_key_for


def serve(host: str, port: int) -> None:
    settings = load_settings()
    configure_logging(settings)
    try:
        check_production(settings)  # before the database file is created or opened
    except ConfigError as e:
        click.echo(f"error: {e}\n(production runs gunicorn, the scheduler and workers: see docs/production.md)", err=True)
        sys.exit(1)
    migrate.init_database(settings.database_url)  # the embedded default upgrades its own database
    # One key for the whole process: the web app signs links with it and delivery
    # puts them in members' notices, so both get it from here (kept across restarts).
    key = secret_key_for(settings.secret_key, Path.cwd() / "instance", create=True)
    settings = dataclasses.replace(settings, secret_key=key)
    engine = make_engine(settings.database_url)
    bind_settings(engine, settings)  # the demo's services below already read this process's settings
    with new_session(engine) as session:
        community = ensure_community(session, settings.policy_path)
        if not any_staff(session) and settings.env != "production":
            logins = demo.fill(session, community)
            click.echo("First start: demo community created. Staff logins (demo only):")
            for username, role, password in logins:
                click.echo(f"  {username:<8} {role:<11} {password}")
    app = create_app(settings, engine=engine)
    server = make_server(host, port, app, threaded=True)
    served = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{server.server_port}"
    if not settings.base_url_set:
        # Links in pages and notices point where this process actually listens.
        settings = dataclasses.replace(settings, base_url=served)
        app.extensions["modsys"].settings = settings
    bind_settings(engine, settings)  # the final object: what the services, the scheduler and delivery all use
    background = start_background_work(engine, settings)
    click.echo(f"modsys is serving on {served}/  (database: {settings.database_url})")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        for stop in background:
            stop()


def start_background_work(engine, settings) -> list:
    """The embedded mode's scheduler, scoring worker and (with a bot token) gateway, and on first start the
    model download (a thread of its own, never inside a request); returns
    their stop functions."""
    import threading

    from modsys.runtime.scheduler import start_embedded_scheduler
    from modsys.runtime.scoring import plan_for, start_embedded_worker
    from modsys.toxicity.fetch import start_first_start_fetch, terminal_bar

    with new_session(engine) as session:
        plan = plan_for(session, settings)
    scheduler = start_embedded_scheduler(engine, settings)
    installed = threading.Event()  # wakes the worker as soon as the download is installed
    stops = [scheduler.shutdown, start_embedded_worker(engine, settings, plan, wake=installed)]
    if settings.model_autofetch:
        fetching = start_first_start_fetch(settings.model_dir, plan.model, settings.model_url_base, installed.set,
                                           bar=terminal_bar(f"downloading toxicity model {plan.model!r}"),
                                           allow_http=settings.model_allow_http, pins=settings.model_pins)
        if fetching is not None:
            stops.insert(0, fetching)
    if settings.discord_bot_token:  # the gateway too (docs/discord.md); `modsys gateway` runs it alone
        from modsys.adapters.discord.gateway.connection import (
            start_embedded as start_gateway,
        )

        stops.insert(0, start_gateway(engine, settings))
    return stops
