"""Shared fixtures. Every test that uses `engine` runs twice: on SQLite and on
the real PostgreSQL server (each pytest process gets its own schema there, so
parallel runs don't collide). PostgreSQL being down fails the run; it never skips."""

from __future__ import annotations

import os
import shutil
import uuid
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Callable, Iterator

import pytest
import sqlalchemy as sa
from sqlmodel import Session, SQLModel

from modsys.community import ensure_community
from modsys.domain import clock as clock_mod
from modsys.domain.actors import CLI, Actor
from modsys.domain.models import AuditHead, Community, Member
from modsys.infra import migrate
from modsys.infra.config import DEFAULT_POLICY, bind_settings, load_settings
from modsys.infra.db import make_engine, new_session
from modsys.services.members import get_or_create_member
from modsys.services.staff import create_staff

pytest_plugins = ["tests.support.discord_server", "tests.support.discord_gateway"]  # `fake_discord`, `fake_gateway`

PG_URL = os.environ.get("MODSYS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ("sqlite", "postgresql")
PASSWORD = "correct-horse-battery"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--db", default="both", choices=("both", *BACKENDS),
                     help="database backend(s) to run the suite on (default: both)")


# Each folder is a layer; its marker lets a loop pick layers (`-m "not slow"`).
LAYERS = ("unit", "services", "web", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        layer = Path(str(item.fspath)).parent.name
        if layer in LAYERS:
            item.add_marker(layer)
        if layer == "e2e":  # real processes and a browser: not for the quick loop
            item.add_marker("slow")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--db")
        metafunc.parametrize("backend", BACKENDS if chosen == "both" else (chosen,), scope="session")


@contextmanager
def empty_pg_schema(prefix: str) -> Iterator[str]:
    """A fresh schema in the `test` database, dropped afterwards. Unreachable
    PostgreSQL fails here, loudly: never a skip."""
    schema = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except sa.exc.OperationalError as e:
        raise RuntimeError(
            f"PostgreSQL at {PG_URL} is unreachable ({e.orig}). Start it with: "
            "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start") from None
    try:
        yield schema
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def schema_url(schema: str) -> str:
    """A DATABASE_URL that puts other processes in `schema`."""
    return f"{PG_URL}?options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[tuple[str, dict]]:
    """A private schema in the `test` database for this pytest process."""
    with empty_pg_schema("modsys_t") as schema:
        yield PG_URL, {"options": f"-csearch_path={schema}"}


@pytest.fixture(scope="session")
def pg_engine(pg_schema_url: tuple[str, dict]) -> Iterator[sa.Engine]:
    url, connect_args = pg_schema_url
    migrate.upgrade(schema_url(connect_args["options"].split("=", 1)[1]))  # once per run: the schema is Alembic's
    engine = make_engine(url, connect_args=connect_args)
    bind_settings(engine, load_settings)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated to head once per run; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "modsys.infra.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


def migrated_sqlite(template: Path, path: Path) -> sa.Engine:
    shutil.copyfile(template, path)
    engine = make_engine(f"sqlite:///{path}")
    bind_settings(engine, load_settings)  # the test is the entry point: settings from its environment, when asked
    return engine


def _reset_pg(engine: sa.Engine) -> None:
    names = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as conn:
        # The audit log refuses TRUNCATE (as it should); the test's own schema lifts that for the reset.
        conn.exec_driver_sql("ALTER TABLE auditevent DISABLE TRIGGER auditevent_no_truncate")
        conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        for trigger in ("auditevent_no_truncate", "auditevent_append_only"):  # tamper tests disable them
            conn.exec_driver_sql(f"ALTER TABLE auditevent ENABLE ALWAYS TRIGGER {trigger}")
    with Session(engine) as s:
        s.add(AuditHead(id=1))
        s.commit()


@pytest.fixture
def engine(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    # Tests are the entry point here: the settings are built when asked, from the
    # environment the test set up (monkeypatched variables included).
    if backend == "sqlite":
        eng = migrated_sqlite(request.getfixturevalue("sqlite_template"), tmp_path / "modsys.infra.db")
        bind_settings(eng, load_settings)
        yield eng
        eng.dispose()
    else:
        eng = request.getfixturevalue("pg_engine")
        _reset_pg(eng)
        bind_settings(eng, load_settings)
        yield eng


@pytest.fixture
def db_url(backend: str, engine: sa.Engine, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A URL other processes (CLI, servers) can open to reach the same database."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'modsys.infra.db'}"
    _, connect_args = request.getfixturevalue("pg_schema_url")
    return schema_url(connect_args["options"].split("=", 1)[1])


@pytest.fixture
def clock() -> Iterator[clock_mod.FrozenClock]:
    frozen = clock_mod.FrozenClock()
    with clock_mod.using(frozen):
        yield frozen


@pytest.fixture
def session(engine: sa.Engine, clock: clock_mod.FrozenClock) -> Iterator[Session]:
    s = new_session(engine)
    yield s
    s.close()


@pytest.fixture
def policy_path() -> Path:
    return DEFAULT_POLICY


@pytest.fixture
def community(session: Session, policy_path: Path) -> Community:
    return ensure_community(session, policy_path)


@pytest.fixture
def make_staff(session: Session, community: Community) -> Callable[..., Actor]:
    counter = iter(range(1, 10_000))

    def make(role: str = "moderator", name: str | None = None) -> Actor:
        user = create_staff(session, CLI, community.id, name or f"{role}{next(counter)}", role, PASSWORD)
        return Actor.staff(user)

    return make


@pytest.fixture
def make_member(session: Session, community: Community) -> Callable[..., Member]:
    counter = iter(range(1000, 1_000_000))

    def make(name: str | None = None) -> Member:
        n = next(counter)
        member = get_or_create_member(session, community.id, str(900000000000000000 + n), name or f"member{n}")
        session.commit()
        return member

    return make


@pytest.fixture
def bot(session: Session, community: Community) -> Actor:
    """A chat bot's reporter API key."""
    from tests.factories import reporter

    return reporter(session, community.id)


@pytest.fixture
def mod_a(make_staff: Callable[..., Actor]) -> Actor:
    return make_staff("moderator", "mod_a")


@pytest.fixture
def mod_b(make_staff: Callable[..., Actor]) -> Actor:
    return make_staff("moderator", "mod_b")


@pytest.fixture
def leader(make_staff: Callable[..., Actor]) -> Actor:
    return make_staff("leadership", "leader")


HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@pytest.fixture
def web_settings(db_url: str, tmp_path: Path):
    from modsys.infra.config import load_settings

    # The checkpoint log lives outside the database: each test gets its own, never the checkout's instance/.
    return load_settings({"DATABASE_URL": db_url, "SECRET_KEY": "test-secret-key-not-for-production",
                          "MODSYS_POLICY": str(DEFAULT_POLICY),
                          "MODSYS_AUDIT_CHECKPOINTS": str(tmp_path / "audit-checkpoints.log")})


@pytest.fixture
def app(engine: sa.Engine, web_settings, clock, community):
    """The web app over a database holding the default community (create_app itself writes nothing)."""
    from web import create_app

    application = create_app(web_settings, engine=engine, TESTING=True, RATELIMIT_ENABLED=False)
    # create_app bound web_settings to the engine for the services; tests configure the bot
    # through the environment (the discord_bot fixture), whenever in the test they ask for it.
    bind_settings(engine, lambda: _with_discord_env(web_settings))
    return application


def _with_discord_env(settings):
    import dataclasses

    env = load_settings()
    return dataclasses.replace(settings, discord_bot_token=env.discord_bot_token, discord_api_url=env.discord_api_url,
                               discord_guild_id=env.discord_guild_id)


def fresh(session) -> None:
    """See what other sessions committed: end this session's read snapshot, forget cached rows."""
    session.rollback()
    session.expire_all()


def login(client, username: str, password: str = PASSWORD):
    """Log in through the real form (CSRF token included)."""
    import re

    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


def csrf_token(client, path: str) -> str:
    import re

    page = client.get(path)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert match, f"no CSRF token on {path} ({page.status_code})"
    return match.group(1)
