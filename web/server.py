"""`modsys serve`: the embedded default in one process (SQLite file, demo data
on first start, in-process scheduler). Production runs gunicorn instead."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click
from werkzeug.serving import make_server

from modsys import demo, migrate
from modsys.community import ensure_community
from modsys.config import load_settings
from modsys.db import make_engine, new_session
from modsys.logging_setup import configure_logging
from modsys.services.staff import any_staff
from web import create_app
from web.security import secret_key_for


def serve(host: str, port: int) -> None:
    settings = load_settings()
    configure_logging()
    migrate.init_database(settings.database_url)  # the embedded default upgrades its own database
    # One key for the whole process: the web app signs links with it and delivery
    # puts them in members' notices, so both get it from here (kept across restarts).
    key = secret_key_for(settings.secret_key, Path.cwd() / "instance", create=True)
    settings = dataclasses.replace(settings, secret_key=key)
    engine = make_engine(settings.database_url)
    with new_session(engine) as session:
        community = ensure_community(session, settings.policy_path)
        if not any_staff(session) and settings.env != "production":
            logins = demo.fill(session, community)
            click.echo("First start: demo community created. Staff logins (demo only):")
            for username, role, password in logins:
                click.echo(f"  {username:<8} {role:<11} {password}")
    app = create_app(settings, engine=engine)
    background = start_background_work(engine, settings)
    server = make_server(host, port, app, threaded=True)
    click.echo(f"modsys is serving on http://{host}:{server.server_port}/  (database: {settings.database_url})")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        for stop in background:
            stop()


def start_background_work(engine, settings) -> list:
    """The embedded mode's scheduler and scoring worker; returns their stop functions."""
    from modsys.community import default_community, policy_for
    from modsys.scheduler import start_embedded_scheduler
    from modsys.scoring import start_embedded_worker

    with new_session(engine) as session:
        model = policy_for(session, default_community(session).id).toxicity.model
    scheduler = start_embedded_scheduler(engine, settings)
    return [scheduler.shutdown, start_embedded_worker(engine, settings, model)]
