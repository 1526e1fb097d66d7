"""The `reelfix` command line: parsing and printing only; the work is in the core.

Exit codes: 0 success, 1 frames failed during processing, 2 bad input/job/model.
One shared typer app (`cli.app`); each module here registers its commands on it when imported,
and none imports this package back.
"""

from __future__ import annotations

from . import commands, conform, farm, models, report  # noqa: F401  (they register their commands)
from .app import app

__all__ = ["app", "main"]


def main() -> None:
    app()
