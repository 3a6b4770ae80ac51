"""Typer arguments shared by the commands of `cli.py` and those registered from elsewhere
(`spark`, `report`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

SpecArg = Annotated[
    Path | None,
    typer.Argument(
        help="Pipeline spec (YAML). Default: the five built-in streams.",
        exists=True,
        dir_okay=False,
    ),
]
