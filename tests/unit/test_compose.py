"""The deployment files agree with the code: every command a container runs is
a real CLI command, every environment variable set is one modsys reads, and
modsys.infra.config.ENV_VARS is the one list of those (docs table included).

No Docker engine is needed: the files are parsed, not run.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import click
import pytest
import yaml

from modsys.cli import main
from modsys.infra.config import (
    KNOWN_ENV_VARS,
    ConfigError,
    check_production,
    env_table,
    load_settings,
)

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
MODSYS_SERVICES = ("migrate", "web", "scheduler", "worker", "gateway")  # built from our Dockerfile
DOCKERFILE = (REPO / "Dockerfile").read_text()
# Set by compose users for interpolation only (never seen by a modsys process as such).
COMPOSE_ONLY_VARS = {"POSTGRES_PASSWORD", "WEB_PORT"}


def resolve_cli(args: list[str]) -> click.Command:
    """The command `modsys ARGS` would run, with its options checked (not run)."""
    command: click.Command = main
    path = ["modsys"]
    rest = list(args)
    while isinstance(command, click.Group):
        assert rest, f"`{' '.join(path)}` is a group: name a command"
        name = rest.pop(0)
        sub = command.commands.get(name)
        assert sub is not None, f"`{' '.join(path)} {name}` does not exist (commands: {sorted(command.commands)})"
        command, path = sub, [*path, name]
    command.make_context(" ".join(path), rest)  # raises click.UsageError on unknown options/arguments
    return command


def invocations(command: list[str] | str) -> list[list[str]]:
    """The programs a compose `command` runs (a `sh -c "a && b"` runs several)."""
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    if argv[:2] == ["sh", "-c"]:
        return [shlex.split(part) for part in re.split(r"&&|;", argv[2]) if part.strip()]
    return [argv]


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return env


def test_the_topology():
    assert set(SERVICES) == {"postgres", "redis", *MODSYS_SERVICES}
    postgres = SERVICES["postgres"]
    assert postgres["image"].split(":")[1].split(".")[0] == "16"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert postgres["volumes"][0].split(":")[0] in COMPOSE["volumes"]  # a named volume, not a bind mount
    assert SERVICES["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("web", "scheduler", "worker", "gateway"):
        assert SERVICES[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert SERVICES[name]["restart"] == "unless-stopped"
    # Several gunicorn workers: their rate-limit counters are shared in Redis (memory:// is refused).
    assert environment(SERVICES["web"])["MODSYS_RATELIMIT_STORAGE"].endswith(":-redis://redis:6379}")
    assert SERVICES["web"]["depends_on"]["redis"]["condition"] == "service_healthy"
    # Only the scheduler holds the audit key, and its checkpoint log is on a volume.
    assert [n for n in MODSYS_SERVICES if "MODSYS_AUDIT_KEY" in environment(SERVICES[n])] == ["scheduler"]
    assert any(v.startswith("checkpoints:") for v in SERVICES["scheduler"]["volumes"])


@pytest.mark.parametrize("name", MODSYS_SERVICES)
def test_every_modsys_command_a_container_runs_exists(name):
    service = SERVICES[name]
    assert service["build"] == "." and service["image"] == SERVICES["web"]["image"]
    for argv in invocations(service["command"]):
        if argv[0] == "modsys":
            resolve_cli(argv[1:])
        elif argv[0] == "gunicorn":
            config = argv[argv.index("--config") + 1]
            assert config == "/app/gunicorn.conf.py" and "COPY gunicorn.conf.py /app/" in DOCKERFILE
        else:
            pytest.fail(f"{name} runs {argv[0]!r}: neither modsys nor gunicorn")


def test_migrations_run_before_anything_else_and_web_never_schedules():
    assert invocations(SERVICES["migrate"]["command"]) == [["modsys", "db", "upgrade"], ["modsys", "init"]]
    assert invocations(SERVICES["web"]["command"])[0][0] == "gunicorn"
    assert invocations(SERVICES["scheduler"]["command"]) == [["modsys", "scheduler"]]
    assert invocations(SERVICES["worker"]["command"]) == [["modsys", "worker"]]
    assert invocations(SERVICES["gateway"]["command"]) == [["modsys", "gateway"]]
    conf = (REPO / "gunicorn.conf.py").read_text()
    assert re.search(r"^preload_app = False$", conf, re.M) and re.search(r'^wsgi_app = "web\.wsgi:app"$', conf, re.M)
    assert "scheduler" not in (REPO / "web" / "wsgi.py").read_text().split('"""')[-1]  # code, not docstring


def test_web_healthcheck_probes_healthz_on_the_gunicorn_port():
    web = SERVICES["web"]
    probe = " ".join(web["healthcheck"]["test"])
    assert f"127.0.0.1:{environment(web)['PORT']}/healthz" in probe
    assert web["ports"][0].endswith(f":{environment(web)['PORT']}")


@pytest.mark.parametrize("name", MODSYS_SERVICES)
def test_every_variable_a_service_sets_is_one_modsys_reads(name):
    env = environment(SERVICES[name])
    unknown = set(env) - set(KNOWN_ENV_VARS)
    assert not unknown, f"{name} sets {sorted(unknown)}, which modsys never reads (typo? add it to modsys.infra.config.ENV_VARS)"
    assert env["MODSYS_ENV"] == "production"
    assert env["SECRET_KEY"].startswith("${SECRET_KEY:?")  # compose refuses to start without one
    assert env["DATABASE_URL"].startswith("postgresql://") and "@postgres:5432/" in env["DATABASE_URL"]
    if name != "scheduler":  # webhook URLs are secrets: only the deliverer gets them
        assert not any(k.startswith("MODSYS_WEBHOOK_") for k in env)


def test_scheduler_gets_the_webhooks():
    env = environment(SERVICES["scheduler"])
    assert {"MODSYS_WEBHOOK_MODLOG", "MODSYS_WEBHOOK_APPEALS", "MODSYS_WEBHOOK_LEADERSHIP"} <= set(env)


def test_compose_interpolation_variables_are_documented_in_env_example():
    example = (REPO / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, re.M))
    code = "\n".join(l for l in (REPO / "docker-compose.yml").read_text().splitlines() if not l.lstrip().startswith("#"))
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", code))
    assert used <= documented, f"set in docker-compose.yml but not in .env.example: {sorted(used - documented)}"
    assert documented <= set(KNOWN_ENV_VARS) | COMPOSE_ONLY_VARS, sorted(documented - set(KNOWN_ENV_VARS))


def test_the_example_secret_key_is_refused():
    example = dict(re.findall(r"^([A-Z_]+)=(.*)$", (REPO / ".env.example").read_text(), re.M))
    settings = load_settings({"MODSYS_ENV": "production", "DATABASE_URL": "postgresql://x@postgres/modsys",
                              "SECRET_KEY": example["SECRET_KEY"], "MODSYS_BASE_URL": example["MODSYS_BASE_URL"]})
    with pytest.raises(ConfigError, match="placeholder"):
        check_production(settings)


def test_dockerfile_installs_cpu_torch_first_fetches_the_model_and_drops_root():
    lines = [line.strip() for line in DOCKERFILE.splitlines() if line.strip() and not line.startswith("#")]
    assert lines[0].startswith("FROM python:3.12-slim")
    torch = next(i for i, l in enumerate(lines) if "torch==2.13.0" in l)
    assert "--index-url https://download.pytorch.org/whl/cpu" in lines[torch]
    project = next(i for i, l in enumerate(lines) if l.startswith("RUN pip install /src"))
    fetch = next(i for i, l in enumerate(lines) if "modsys model fetch" in l)
    user = next(i for i, l in enumerate(lines) if l.startswith("USER "))
    assert torch < project < fetch < user and lines[user] != "USER root"
    resolve_cli(shlex.split(lines[fetch].removeprefix("RUN "))[1:])
    convert = next(i for i, l in enumerate(lines) if "modsys model convert" in l)  # the int8 backend
    assert fetch < convert < user
    resolve_cli(shlex.split(lines[convert].removeprefix("RUN "))[1:])
    env = dict(re.findall(r"^ENV (MODSYS_[A-Z_]+)=(\S+)", DOCKERFILE, re.M))
    assert set(env) <= set(KNOWN_ENV_VARS) and env["MODSYS_MODEL_DIR"] == "/opt/modsys/models"
    assert environment(SERVICES["worker"])["MODSYS_MODEL_DIR"] == env["MODSYS_MODEL_DIR"]


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_image():
    ignored = set((REPO / ".dockerignore").read_text().split())
    assert {".env", ".git", ".venv", "*.db", "instance", "models"} <= ignored
    for needed in ("pyproject.toml", "README.md", "modsys", "web", "policies", "gunicorn.conf.py"):
        assert needed not in ignored


def test_the_package_declares_what_the_production_processes_import():
    # The image is `pip install /src`: anything missing here is missing there.
    declared = {re.split(r"[<>=\[ ;]", d, maxsplit=1)[0].lower()
                for d in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]}
    missing = {"alembic", "prometheus-client", "gunicorn"} - declared
    assert not missing, f"add to [project] dependencies in pyproject.toml: {sorted(missing)}"


# --- one list of environment variables -------------------------------------------------


def _source_files():
    yield from (REPO / "modsys").rglob("*.py")
    yield from (REPO / "web").rglob("*.py")
    yield REPO / "gunicorn.conf.py"


def test_every_variable_the_code_reads_is_in_the_one_list():
    known, found = set(KNOWN_ENV_VARS), {}
    for path in _source_files():
        text = path.read_text()
        names = {n for n in re.findall(r"\bMODSYS_[A-Z0-9_]+", text) if not n.endswith("_")}  # MODSYS_WEBHOOK_* is a pattern
        names |= set(re.findall(r"(?:environ(?:\.get)?\(|environ\[|getenv\()\s*[\"']([A-Z][A-Z0-9_]+)[\"']", text))
        if path.name in ("config.py", "gunicorn.conf.py"):  # load_settings reads through `env.get(...)`
            names |= set(re.findall(r"\benv\.get\(\s*[\"']([A-Z][A-Z0-9_]+)[\"']", text))
        for name in names - known:
            found.setdefault(name, []).append(str(path.relative_to(REPO)))
    assert not found, f"read by the code but missing from modsys.infra.config.ENV_VARS: {found}"


def test_the_docs_table_is_generated_from_the_list():
    docs = (REPO / "docs" / "production.md").read_text()
    assert env_table() in docs, (
        "docs/production.md's variable table is out of date; paste the output of\n"
        "  python -c 'from modsys.infra.config import env_table; print(env_table())'")


def test_the_readme_table_names_only_known_variables():
    readme = (REPO / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)`", table, re.M))
    assert named and named <= set(KNOWN_ENV_VARS), sorted(named - set(KNOWN_ENV_VARS))
