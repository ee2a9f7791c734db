"""Configuration from environment variables (one place, read once)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POLICY = REPO_ROOT / "policies" / "default.yaml"
DEFAULT_BASE_URL = "http://127.0.0.1:5000"


class ConfigError(Exception):
    """The configuration is unsafe or invalid; the process refuses to start."""


@dataclass(frozen=True)
class EnvVar:
    name: str
    default: str
    meaning: str


# Every environment variable modsys reads, wherever it is read. The single source
# of truth: tests check that code, docker-compose.yml and docs/production.md use
# no other names (`env_table()` renders the docs table from it).
ENV_VARS: tuple[EnvVar, ...] = (
    EnvVar("DATABASE_URL", "sqlite:///modsys.db", "SQLAlchemy URL; `postgresql://user@host/db` uses psycopg 3"),
    EnvVar("SECRET_KEY", "(none)", "signs sessions and appeal links; production: at least 32 random characters"),
    EnvVar("MODSYS_ENV", "development", "`production` refuses demo data and unsafe settings"),
    EnvVar("MODSYS_BASE_URL", DEFAULT_BASE_URL, "public URL of the service, for links in notifications; required in production"),
    EnvVar("MODSYS_POLICY", "policies/default.yaml", "the community's policy file"),
    EnvVar("MODSYS_MODEL_DIR", "models", "where toxicity model weights are installed"),
    EnvVar("MODSYS_REQUIRE_MODEL", "0", "`1`: /readyz fails while the toxicity model is unusable (else: ready, degraded)"),
    EnvVar("MODSYS_TORCH_THREADS", "(CPUs available)", "threads the scoring worker gives torch or ONNX Runtime"),
    EnvVar("MODSYS_TOXICITY_BACKEND", "auto", "`torch` (fp32) or `onnx-int8`; overrides the policy's `toxicity.backend`; `auto`: onnx-int8 once `modsys model convert` made one"),
    EnvVar("MODSYS_MODEL_URL_BASE", "(detoxify's releases + huggingface.co)", "a mirror to fetch models from: a served copy of a model directory, `<base>/<model>/manifest.json`"),
    EnvVar("MODSYS_MODEL_AUTOFETCH", "1", "`modsys serve`: fetch the policy's model in the background on first start; `0`: never"),
    EnvVar("MODSYS_TRUSTED_PROXIES", "0", "reverse proxies in front of the web app; their X-Forwarded-For/-Proto/-Host are trusted (rate limits per client IP)"),
    EnvVar("MODSYS_RATELIMIT_STORAGE", "memory://", "rate-limit counters; several web processes need a shared one, e.g. `redis://host:6379`"),
    EnvVar("MODSYS_WEBHOOK_MODLOG", "(none)", "Discord webhook URL for the mod log channel (a secret)"),
    EnvVar("MODSYS_WEBHOOK_APPEALS", "(none)", "Discord webhook URL for the appeals channel (a secret)"),
    EnvVar("MODSYS_WEBHOOK_LEADERSHIP", "(none)", "Discord webhook URL for the leadership channel (a secret)"),
    EnvVar("MODSYS_LOG_FORMAT", "`json` in production, else `text`", "log line format: `json` (one object per line) or `text`"),
    EnvVar("MODSYS_LOG_LEVEL", "INFO", "minimum log level"),
    EnvVar("MODSYS_ALLOW_SQLITE", "0", "`1`: allow a SQLite `DATABASE_URL` in production (one machine, one web process)"),
    EnvVar("FLASK_DEBUG", "0", "Flask debug mode; refused in production"),
    EnvVar("PROMETHEUS_MULTIPROC_DIR", "(none)", "set under gunicorn: an empty directory where workers share request metrics"),
    EnvVar("WEB_CONCURRENCY", "2 x CPUs + 1, at most 12", "gunicorn worker processes"),
    EnvVar("PORT", "8000", "gunicorn listens on 0.0.0.0:PORT (when `MODSYS_BIND` is unset)"),
    EnvVar("MODSYS_BIND", "0.0.0.0:$PORT", "gunicorn bind address(es), comma-separated"),
)
KNOWN_ENV_VARS: tuple[str, ...] = tuple(v.name for v in ENV_VARS)


def env_table() -> str:
    """The Markdown table of ENV_VARS (docs/production.md carries it verbatim)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    rows += [f"| `{v.name}` | {v.default} | {v.meaning} |" for v in ENV_VARS]
    return "\n".join(rows)


@dataclass(frozen=True)
class Settings:
    database_url: str
    policy_path: Path
    model_dir: Path
    secret_key: str | None
    env: str  # "development" (embedded default) or "production"
    base_url: str  # public URL of the service, for links in notifications
    ratelimit_storage: str  # "memory://" (one process) or e.g. "redis://127.0.0.1:6379"
    debug: bool = False  # FLASK_DEBUG
    trusted_proxies: int = 0  # X-Forwarded-* hops to trust (ProxyFix)
    allow_sqlite: bool = False  # SQLite in production only when asked for explicitly
    require_model: bool = False  # /readyz: a missing model is "degraded" unless required
    log_format: str = "text"  # "json" | "text"
    log_level: str = "INFO"
    toxicity_backend: str | None = None  # None: the policy's, else auto
    model_url_base: str | None = None  # None: detoxify's release URLs and huggingface.co
    model_autofetch: bool = True

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def is_production(self) -> bool:
        return self.env == "production"


def normalise_db_url(url: str) -> str:
    """Accept the common `postgres://` / `postgresql://` spellings; use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _flag(value: str | None) -> bool:
    """Opt-in switches: only an explicit yes turns them on."""
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _count(value: str | None, name: str) -> int:
    try:
        n = int((value or "0").strip())
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {value!r}") from None
    if not 0 <= n <= 5:
        raise ConfigError(f"{name} must be between 0 and 5")
    return n


def _flask_debug(value: str | None) -> bool:
    # Exactly Flask's reading of FLASK_DEBUG (flask.helpers.get_debug_flag), so the
    # check sees what the app will do: anything set but 0/false/no turns it on.
    return bool(value) and value.lower() not in ("0", "false", "no")


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    mode = env.get("MODSYS_ENV", "development")
    log_format = (env.get("MODSYS_LOG_FORMAT") or ("json" if mode == "production" else "text")).strip().lower()
    if log_format not in ("json", "text"):
        raise ConfigError(f"MODSYS_LOG_FORMAT must be 'json' or 'text', not {log_format!r}")
    return Settings(
        database_url=normalise_db_url(env.get("DATABASE_URL", "sqlite:///modsys.db")),
        policy_path=Path(env.get("MODSYS_POLICY", str(DEFAULT_POLICY))),
        model_dir=Path(env.get("MODSYS_MODEL_DIR", "models")),
        secret_key=env.get("SECRET_KEY") or None,
        env=mode,
        base_url=env.get("MODSYS_BASE_URL", DEFAULT_BASE_URL),
        ratelimit_storage=env.get("MODSYS_RATELIMIT_STORAGE", "memory://"),
        debug=_flask_debug(env.get("FLASK_DEBUG")),
        trusted_proxies=_count(env.get("MODSYS_TRUSTED_PROXIES"), "MODSYS_TRUSTED_PROXIES"),
        allow_sqlite=_flag(env.get("MODSYS_ALLOW_SQLITE")),
        require_model=_flag(env.get("MODSYS_REQUIRE_MODEL")),
        log_format=log_format,
        log_level=(env.get("MODSYS_LOG_LEVEL") or "INFO").strip().upper(),
        toxicity_backend=_backend(env.get("MODSYS_TOXICITY_BACKEND")),
        model_url_base=(env.get("MODSYS_MODEL_URL_BASE") or "").strip().rstrip("/") or None,
        model_autofetch=(env.get("MODSYS_MODEL_AUTOFETCH") or "1").strip().lower() not in ("0", "false", "no", "off"),
    )


def _backend(value: str | None) -> str | None:
    from modsys.toxicity.scorer import BACKENDS

    value = (value or "").strip().lower()
    if value in ("", "auto"):
        return None
    if value not in BACKENDS:
        raise ConfigError(f"MODSYS_TOXICITY_BACKEND must be one of {', '.join(BACKENDS)} or auto, not {value!r}")
    return value


MIN_SECRET_KEY_LENGTH = 32
# Values from docs, examples and tests that end up copied into real deployments.
_PLACEHOLDER_MARKERS = ("change", "placeholder", "example", "secret-key", "not-for-production",
                        "insecure", "default", "password", "dev-key", "test-key", "xxxx")


def _secret_key_problem(key: str | None) -> str | None:
    """Why `key` is not fit for production, without ever quoting it."""
    if not key:
        return "SECRET_KEY is not set (generate one: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
    if len(key) < MIN_SECRET_KEY_LENGTH:
        return f"SECRET_KEY is {len(key)} characters; use at least {MIN_SECRET_KEY_LENGTH} random characters"
    lowered = key.lower()
    if any(marker in lowered for marker in _PLACEHOLDER_MARKERS):
        return "SECRET_KEY is a placeholder or demo value; generate a random one"
    if len(set(key)) < 10:  # "aaaa...", "0123012301..."
        return "SECRET_KEY has too few distinct characters to be random; generate a random one"
    return None


def check_production(settings: Settings) -> None:
    """In production mode, refuse unsafe settings (all problems in one message).
    Development mode is never refused: the embedded default must just work."""
    if not settings.is_production:
        return
    problems = []
    if problem := _secret_key_problem(settings.secret_key):
        problems.append(problem)
    if settings.debug:
        problems.append("FLASK_DEBUG is on: the debugger shows code and stack traces; unset it")
    if settings.is_sqlite and not settings.allow_sqlite:
        problems.append("DATABASE_URL is SQLite; use PostgreSQL, or set MODSYS_ALLOW_SQLITE=1 for a single-process deployment")
    if settings.base_url == DEFAULT_BASE_URL:
        problems.append("MODSYS_BASE_URL is not set; appeal links in notifications would point at 127.0.0.1")
    if problems:
        raise ConfigError("refusing to start with MODSYS_ENV=production:\n  - " + "\n  - ".join(problems))
