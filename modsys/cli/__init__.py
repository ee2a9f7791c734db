"""`modsys` command line. Each module registers the commands of one area on `main`."""

from modsys.cli import apikey, audit, community, discord, export, model, notifications, policy, run, setup  # noqa: F401  (registers commands)
from modsys.cli.base import main

__all__ = ["main"]
