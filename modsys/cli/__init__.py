"""`modsys` command line. Each module registers the commands of one area on `main`."""

from modsys.cli import (  # noqa: F401  (registers commands)
    apikey,
    audit,
    community,
    discord,
    export,
    gateway,
    model,
    notifications,
    policy,
    run,
    setup,
    staff,
    two_factor,
)
from modsys.cli.base import main

__all__ = ["main"]
