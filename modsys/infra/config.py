"""Configuration from environment variables (one place, read once)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_POLICY = REPO_ROOT / "policies" / "default.yaml"
DEFAULT_BASE_URL = "http://127.0.0.1:5000"
DEFAULT_DISCORD_API_URL = "https://discord.com/api/v10"


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
    EnvVar("DATABASE_URL", "sqlite:///modsys.infra.db", "SQLAlchemy URL; `postgresql://user@host/db` uses psycopg 3"),
    EnvVar("SECRET_KEY", "(none)", "signs sessions and appeal links; production: at least 32 random characters"),
    EnvVar("MODSYS_ENV", "development", "`production` refuses demo data and unsafe settings"),
    EnvVar("MODSYS_BASE_URL", DEFAULT_BASE_URL, "public URL of the service, for links in notifications; required in production"),
    EnvVar("MODSYS_POLICY", "policies/default.yaml", "the community's policy file"),
    EnvVar("MODSYS_MODEL_DIR", "models", "where toxicity model weights are installed"),
    EnvVar("MODSYS_REQUIRE_MODEL", "0", "`1`: /readyz fails while the toxicity model is unusable (else: ready, degraded)"),
    EnvVar("MODSYS_TORCH_THREADS", "1", "intra-op threads a scoring worker gives torch or ONNX Runtime (1 beat 2 by 3.1x on a loaded 2-core host; scale out with more workers instead)"),
    EnvVar("MODSYS_SCORING_NICE", "10", "how much a scoring worker lowers its CPU priority (os.nice), so the web keeps its cores; 0: unchanged"),
    EnvVar("MODSYS_TOXICITY_BACKEND", "auto", "`torch` (fp32) or `onnx-int8`; overrides the policy's `toxicity.backend`; `auto`: onnx-int8 once `modsys model convert` made one"),
    EnvVar("MODSYS_MODEL_URL_BASE", "(detoxify's releases + huggingface.co)", "a mirror to fetch models from: a served copy of a model directory, `<base>/<model>/manifest.json`"),
    EnvVar("MODSYS_MODEL_ALLOW_HTTP", "0", "`1`: allow a plain `http://` model mirror (same host or a trusted network); otherwise only https"),
    EnvVar("MODSYS_MODEL_SHA256", "(detoxify's published prefixes)", "full sha256 pins you verified, `original=<64 hex>,multilingual=<64 hex>`: a fetched checkpoint must match"),
    EnvVar("MODSYS_MODEL_AUTOFETCH", "1", "`modsys serve`: fetch the policy's model in the background on first start; `0`: never"),
    EnvVar("MODSYS_TRUSTED_PROXIES", "0", "reverse proxies in front of the web app; their X-Forwarded-For/-Proto/-Host are trusted (rate limits per client IP); production: needs `MODSYS_BIND`"),
    EnvVar("MODSYS_RATELIMIT_STORAGE", "memory://", "rate-limit counters; production refuses `memory://` with more than one gunicorn worker: use `redis://host:6379`"),
    EnvVar("MODSYS_WEBHOOK_MODLOG", "(none)", "Discord webhook URL for the mod log channel (a secret)"),
    EnvVar("MODSYS_WEBHOOK_APPEALS", "(none)", "Discord webhook URL for the appeals channel (a secret)"),
    EnvVar("MODSYS_WEBHOOK_LEADERSHIP", "(none)", "Discord webhook URL for the leadership channel (a secret)"),
    EnvVar("MODSYS_DISCORD_BOT_TOKEN", "(none)", "the Discord bot's token (a secret): with it modsys enforces actions in Discord, DMs members and reads the audit log (docs/discord.md)"),
    EnvVar("MODSYS_DISCORD_API_URL", "https://discord.com/api/v10", "Discord's REST API base URL (tests point it at a fake)"),
    EnvVar("MODSYS_DISCORD_GUILD_ID", "(none)", "the default community's Discord server id, when the community has none set"),
    EnvVar("MODSYS_AUDIT_KEY", "(generated into instance/ outside production)", "keys the HMAC of audit checkpoints; production: at least 32 random characters, different from SECRET_KEY (a secret)"),
    EnvVar("MODSYS_AUDIT_CHECKPOINTS", "instance/audit-checkpoints.log", "the audit checkpoint log, outside the database: one line appended per checkpoint"),
    EnvVar("MODSYS_LOG_FORMAT", "`json` in production, else `text`", "log line format: `json` (one object per line) or `text`"),
    EnvVar("MODSYS_LOG_LEVEL", "INFO", "minimum log level"),
    EnvVar("MODSYS_ALLOW_SQLITE", "0", "`1`: allow a SQLite `DATABASE_URL` in production (one machine, one web process)"),
    EnvVar("FLASK_DEBUG", "0", "Flask debug mode; refused in production"),
    EnvVar("PROMETHEUS_MULTIPROC_DIR", "(none)", "set under gunicorn: an empty directory where workers share request metrics"),
    EnvVar("WEB_CONCURRENCY", "2 x CPUs + 1, at most 12", "gunicorn worker processes"),
    EnvVar("PORT", "8000", "gunicorn listens on 0.0.0.0:PORT (when `MODSYS_BIND` is unset)"),
    EnvVar("MODSYS_BIND", "0.0.0.0:$PORT", "gunicorn bind address(es), comma-separated"),
    # Discord front door (interactions and "Sign in with Discord"); see docs/discord.md (section 7).
    EnvVar("MODSYS_DISCORD_APPLICATION_ID", "(none)", "the Discord application's id (command registration)"),
    EnvVar("MODSYS_DISCORD_PUBLIC_KEY", "(none)", "the application's hex Ed25519 public key; turns on `POST /discord/interactions`"),
    EnvVar("MODSYS_DISCORD_CLIENT_ID", "(none)", "OAuth2 client id; with the secret, turns on \"Sign in with Discord\""),
    EnvVar("MODSYS_DISCORD_CLIENT_SECRET", "(none)", "OAuth2 client secret (a secret)"),
    EnvVar("MODSYS_DISCORD_OAUTH_URL", "https://discord.com/oauth2/authorize", "Discord's OAuth2 authorization page"),
    EnvVar("MODSYS_DISCORD_STAFF_LOGIN", "0", "`1`: staff with a linked Discord account may also sign in with Discord"),
    # The gateway, message log and evidence vault (issue 21); see docs/discord.md.
    EnvVar("MODSYS_DISCORD_GATEWAY_URL", "(Discord's, from GET /gateway/bot)", "the gateway's websocket URL (tests point it at a fake)"),
    EnvVar("MODSYS_DISCORD_CDN_URL", "https://cdn.discordapp.com", "the only origins evidence files are downloaded from, comma-separated (Discord's CDN hosts; tests point it at a fake)"),
    EnvVar("MODSYS_DATA_KEY", "(generated into instance/ outside production)", "encrypts stored message content (AES-GCM); production: at least 32 random characters (a secret)"),
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
    discord_bot_token: str | None = field(default=None, repr=False)  # a secret: never in repr or logs
    discord_api_url: str = DEFAULT_DISCORD_API_URL
    discord_guild_id: str | None = None  # the default community's fallback (see modsys.adapters.discord.guild_id_for)
    base_url_set: bool = False  # MODSYS_BASE_URL given (else `modsys serve` uses the address it serves on)
    audit_key: str | None = None  # MODSYS_AUDIT_KEY (see modsys.audit.checkpoint)
    audit_checkpoints: Path = Path("instance/audit-checkpoints.log")
    # Discord front door: unset values mean "off" (the endpoints answer 404).
    discord_application_id: str | None = None
    discord_public_key: str | None = None
    discord_client_id: str | None = None
    discord_client_secret: str | None = field(default=None, repr=False)  # never in a log line
    discord_oauth_url: str = "https://discord.com/oauth2/authorize"
    discord_staff_login: bool = False

    @property
    def discord_oauth_enabled(self) -> bool:
        return bool(self.discord_client_id and self.discord_client_secret)
    discord_gateway_url: str | None = None  # None: the URL Discord's GET /gateway/bot names
    discord_cdn_urls: tuple[str, ...] = ("https://cdn.discordapp.com", "https://media.discordapp.net")
    data_key: str | None = field(default=None, repr=False)  # MODSYS_DATA_KEY (see modsys.infra.crypto)
    toxicity_backend: str | None = None  # None: the policy's, else auto
    model_url_base: str | None = None  # None: detoxify's release URLs and huggingface.co
    model_autofetch: bool = True
    model_allow_http: bool = False  # a plain-HTTP mirror is refused unless this is set
    model_pins: dict[str, str] = field(default_factory=dict)  # model -> full sha256, over the release prefixes
    scoring_threads: int = 1
    scoring_nice: int = 10

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


def _hex_key(value: str | None) -> str | None:
    """Discord shows the application's Ed25519 public key as 64 hex characters."""
    key = (value or "").strip().lower()
    if not key:
        return None
    if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
        raise ConfigError("MODSYS_DISCORD_PUBLIC_KEY must be the 64 hex characters of the application's "
                          "public key (Discord Developer Portal > your application > General Information)")
    return key


def bind_settings(engine: Any, settings: Settings | Callable[[], Settings]) -> None:
    """The entry point's settings travel with its database engine, so code that only
    holds a session (the services) reads the very object the entry point built
    (`modsys serve`'s generated key included), never a second copy from the environment.
    Tests may bind a function that builds them when asked."""
    engine.modsys_settings = settings


def settings_of(bind: Any) -> Settings:
    """The settings bound to a session's or an engine's database engine (`bind_settings`)."""
    engine = bind.get_bind() if hasattr(bind, "get_bind") else bind
    found = getattr(engine, "modsys_settings", None)
    if found is None:
        raise RuntimeError("no settings are bound to this database engine: the process's entry point builds "
                           "them once and binds them (modsys.infra.config.bind_settings)")
    return found if isinstance(found, Settings) else found()


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    mode = env.get("MODSYS_ENV", "development")
    log_format = (env.get("MODSYS_LOG_FORMAT") or ("json" if mode == "production" else "text")).strip().lower()
    if log_format not in ("json", "text"):
        raise ConfigError(f"MODSYS_LOG_FORMAT must be 'json' or 'text', not {log_format!r}")
    return Settings(
        database_url=normalise_db_url(env.get("DATABASE_URL", "sqlite:///modsys.infra.db")),
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
        discord_bot_token=(env.get("MODSYS_DISCORD_BOT_TOKEN") or "").strip() or None,
        discord_api_url=(env.get("MODSYS_DISCORD_API_URL") or DEFAULT_DISCORD_API_URL).strip().rstrip("/"),
        discord_guild_id=(env.get("MODSYS_DISCORD_GUILD_ID") or "").strip() or None,
        base_url_set=bool(env.get("MODSYS_BASE_URL")),
        audit_key=env.get("MODSYS_AUDIT_KEY") or None,
        audit_checkpoints=Path(env.get("MODSYS_AUDIT_CHECKPOINTS") or "instance/audit-checkpoints.log"),
        discord_application_id=env.get("MODSYS_DISCORD_APPLICATION_ID") or None,
        discord_public_key=_hex_key(env.get("MODSYS_DISCORD_PUBLIC_KEY")),
        discord_client_id=env.get("MODSYS_DISCORD_CLIENT_ID") or None,
        discord_client_secret=env.get("MODSYS_DISCORD_CLIENT_SECRET") or None,
        discord_oauth_url=env.get("MODSYS_DISCORD_OAUTH_URL") or "https://discord.com/oauth2/authorize",
        discord_staff_login=_flag(env.get("MODSYS_DISCORD_STAFF_LOGIN")),
        discord_gateway_url=(env.get("MODSYS_DISCORD_GATEWAY_URL") or "").strip() or None,
        discord_cdn_urls=_origins(env.get("MODSYS_DISCORD_CDN_URL")),
        data_key=env.get("MODSYS_DATA_KEY") or None,
        toxicity_backend=_backend(env.get("MODSYS_TOXICITY_BACKEND")),
        model_url_base=(env.get("MODSYS_MODEL_URL_BASE") or "").strip().rstrip("/") or None,
        model_autofetch=(env.get("MODSYS_MODEL_AUTOFETCH") or "1").strip().lower() not in ("0", "false", "no", "off"),
        model_allow_http=_flag(env.get("MODSYS_MODEL_ALLOW_HTTP")),
        model_pins=_model_pins(env.get("MODSYS_MODEL_SHA256")),
        scoring_threads=_bounded(env.get("MODSYS_TORCH_THREADS"), "MODSYS_TORCH_THREADS", 1, 1, 256),
        scoring_nice=_bounded(env.get("MODSYS_SCORING_NICE"), "MODSYS_SCORING_NICE", 10, 0, 19),
    )


def _origins(value: str | None) -> tuple[str, ...]:
    """Discord's CDN origins (scheme://host[:port]): attachment and media links."""
    if not (value or "").strip():
        return Settings.discord_cdn_urls
    origins = tuple(v.strip().rstrip("/") for v in value.split(",") if v.strip())  # type: ignore[union-attr]
    for origin in origins:
        if not origin.startswith(("https://", "http://")) or "/" in origin.split("://", 1)[1]:
            raise ConfigError(f"MODSYS_DISCORD_CDN_URL: {origin!r} is not an origin like https://cdn.discordapp.com")
    return origins


def _bounded(value: str | None, name: str, default: int, low: int, high: int) -> int:
    if not (value or "").strip():
        return default
    try:
        n = int(value.strip())
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {value!r}") from None
    if not low <= n <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, not {n}")
    return n


def _model_pins(value: str | None) -> dict[str, str]:
    import re

    from modsys.toxicity.pins import RELEASES

    pins = {}
    for item in filter(None, (part.strip() for part in (value or "").split(","))):
        model, _, digest = item.partition("=")
        model, digest = model.strip(), digest.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ConfigError(f"MODSYS_MODEL_SHA256: {item!r} is not model=<64 hex digits of sha256>")
        if model not in RELEASES:
            raise ConfigError(f"MODSYS_MODEL_SHA256: unknown model {model!r}; pins are for {', '.join(RELEASES)}")
        pins[model] = digest
    return pins


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


def _patterned(key: str) -> bool:
    """A repeated unit ("abcdabcd...") or a run of 8 consecutive characters
    ("0123456789abcdef..."): typed, not generated. A random 32+ character key
    has such a run with odds below 1 in a million."""
    if any(key == (key[:p] * (len(key) // p + 1))[:len(key)] for p in range(1, len(key) // 2 + 1)):
        return True
    run = 1
    for a, b in zip(key, key[1:]):
        run = run + 1 if abs(ord(b) - ord(a)) == 1 else 1
        if run >= 8:
            return True
    return False


def _key_problem(name: str, key: str | None) -> str | None:
    """Why `key` is not fit for production, without ever quoting it."""
    if not key:
        return f"{name} is not set (generate one: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
    if len(key) < MIN_SECRET_KEY_LENGTH:
        return f"{name} is {len(key)} characters; use at least {MIN_SECRET_KEY_LENGTH} random characters"
    lowered = key.lower()
    if any(marker in lowered for marker in _PLACEHOLDER_MARKERS):
        return f"{name} is a placeholder or demo value; generate a random one"
    if len(set(key)) < 10:  # "aaaa...", "0123012301..."
        return f"{name} has too few distinct characters to be random; generate a random one"
    if _patterned(key):
        return f"{name} follows a pattern (a repeated or consecutive sequence); generate a random one"
    return None


def check_production(settings: Settings) -> None:
    """In production mode, refuse unsafe settings (all problems in one message).
    Development mode is never refused: the embedded default must just work."""
    if not settings.is_production:
        return
    problems = []
    if problem := _key_problem("SECRET_KEY", settings.secret_key):
        problems.append(problem)
    if settings.debug:
        problems.append("FLASK_DEBUG is on: the debugger shows code and stack traces; unset it")
    if settings.is_sqlite and not settings.allow_sqlite:
        problems.append("DATABASE_URL is SQLite; use PostgreSQL, or set MODSYS_ALLOW_SQLITE=1 for a single-process deployment")
    if settings.base_url == DEFAULT_BASE_URL:
        problems.append("MODSYS_BASE_URL is not set; appeal links in notifications would point at 127.0.0.1")
    if problems:
        raise ConfigError("refusing to start with MODSYS_ENV=production:\n  - " + "\n  - ".join(problems))


def audit_key_problem(settings: Settings) -> str | None:
    """Why MODSYS_AUDIT_KEY can't key production checkpoints (None: it can). Only
    the processes that write or check checkpoints need it (scheduler, CLI): the
    web tier never holds it, so a compromised web process can't forge them."""
    if problem := _key_problem("MODSYS_AUDIT_KEY", settings.audit_key):
        return problem
    if settings.audit_key == settings.secret_key:
        return "MODSYS_AUDIT_KEY must differ from SECRET_KEY"
    return None


def check_web_workers(settings: Settings, workers: int, bind_set: bool) -> None:
    """gunicorn's extra production checks, which depend on how it is started."""
    if not settings.is_production:
        return
    problems = []
    if workers > 1 and settings.ratelimit_storage.startswith("memory://"):
        # Each worker would count on its own: N workers let N times the limit through.
        problems.append(f"MODSYS_RATELIMIT_STORAGE is memory:// with {workers} workers; use a shared store "
                        "(redis://host:6379) or WEB_CONCURRENCY=1")
    if settings.trusted_proxies and not bind_set:
        # Reached directly, anyone could write X-Forwarded-For and pick their own address.
        problems.append("MODSYS_TRUSTED_PROXIES is set but gunicorn would listen on 0.0.0.0; set MODSYS_BIND "
                        "to an address only the proxy reaches (e.g. 127.0.0.1:8000)")
    if problems:
        raise ConfigError("refusing to start with MODSYS_ENV=production:\n  - " + "\n  - ".join(problems))
