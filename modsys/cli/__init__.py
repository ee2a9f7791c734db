"""`modsys` command line. Each module registers the commands of one area on `main`."""

from modsys.cli import apikey, audit, model, notifications, policy, run, setup  # noqa: F401  (registers commands)
from modsys.cli import two_factor  # noqa: F401
from modsys.cli.base import main

__all__ = ["main"]
