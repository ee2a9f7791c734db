"""`modsys` command line. Each module registers the commands of one area on `main`."""

from modsys.cli import apikey, audit, community, model, notifications, policy, run, setup, staff  # noqa: F401  (registers commands)
from modsys.cli.base import main

__all__ = ["main"]
