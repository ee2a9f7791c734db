"""Configuration from environment variables (one place, read once)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POLICY = REPO_ROOT / "policies" / "default.yaml"


@dataclass(frozen=True)
class Settings:
    database_url: str
    policy_path: Path
    model_dir: Path
    secret_key: str | None
    env: str  # "development" (embedded default) or "production"
    base_url: str  # public URL of the service, for links in notifications
    ratelimit_storage: str  # "memory://" (one process) or e.g. "redis://127.0.0.1:6379"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def normalise_db_url(url: str) -> str:
    """Accept the common `postgres://` / `postgresql://` spellings; use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    return Settings(
        database_url=normalise_db_url(env.get("DATABASE_URL", "sqlite:///modsys.db")),
        policy_path=Path(env.get("MODSYS_POLICY", str(DEFAULT_POLICY))),
        model_dir=Path(env.get("MODSYS_MODEL_DIR", "models")),
        secret_key=env.get("SECRET_KEY") or None,
        env=env.get("MODSYS_ENV", "development"),
        base_url=env.get("MODSYS_BASE_URL", "http://127.0.0.1:5000"),
        ratelimit_storage=env.get("MODSYS_RATELIMIT_STORAGE", "memory://"),
    )
