"""`streamdash grafana export`: the typer command, a thin shell over `export_grafana`.

Kept here so `cli.py` only registers it; importing this module is cheap (the export's
dependencies load when the command runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from streamdash.config import ENV_DATABASE_URL


def grafana_export(
    out: Annotated[
        Path, typer.Option(help="Directory to write provisioning/ and dashboards/ into.")
    ],
    spec: Annotated[
        Path | None,
        typer.Argument(
            help="Pipeline spec (YAML). Default: the five built-in streams.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            help="PostgreSQL the data source reads (host, port, user, database; a password "
            f"in it is not written; default: env {ENV_DATABASE_URL}).",
            envvar=ENV_DATABASE_URL,
            show_envvar=False,
        ),
    ] = None,
    dashboards_path: Annotated[
        str | None,
        typer.Option(
            help="Where Grafana will read the dashboard JSON files "
            "(default: OUT/dashboards, absolute)."
        ),
    ] = None,
) -> None:
    """Write Grafana provisioning files: a PostgreSQL data source and one dashboard per
    stream, generated from the spec's `dashboards:` section."""
    from streamdash.errors import SpecError
    from streamdash.grafana.export import export_grafana
    from streamdash.grafana.provisioning import PASSWORD_ENV
    from streamdash.spec.loader import load_builtin, load_pipeline

    try:
        pipeline = load_pipeline(spec) if spec else load_builtin()
    except SpecError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=1) from None
    try:
        written = export_grafana(
            pipeline, out, database_url=database_url, dashboards_path=dashboards_path
        )
    except OSError as err:
        typer.echo(f"error: cannot write under {out}: {err.strerror or err}", err=True)
        raise typer.Exit(code=2) from None
    for path in written:
        typer.echo(str(path))
    typer.echo(
        f"Set {PASSWORD_ENV} in Grafana's environment to the database password "
        "(it is not written to the files). See docs/grafana.md."
    )
