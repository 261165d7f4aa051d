"""The ``yizhan`` registry commands: demo, import, upload, token, map, migrate, demand,
export, summary, user, stars; one module per group, each command parsing, calling a
service, printing.

``serve`` is added by api.cli, so that this package never imports the API.
"""

from __future__ import annotations

# Each module adds its commands to ``main`` when imported.
from stations.cli import demand, maps, network, registry, stars, tokens, uploads, users
from stations.cli.common import cli_settings, database_option, main

__all__ = [
    "cli_settings",
    "database_option",
    "demand",
    "main",
    "maps",
    "network",
    "registry",
    "stars",
    "tokens",
    "uploads",
    "users",
]
