"""CLI commands of the simulate domain (registered on the one ``eldercare`` app by web/cli.py)."""

from __future__ import annotations

import typer


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add this domain's commands to the top-level app and its benchmarks to ``eldercare bench``."""
