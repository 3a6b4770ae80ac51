"""The `grafana export` command function, mounted on a Typer app as cli.py mounts it."""

from __future__ import annotations

from pathlib import Path

import typer
import yaml
from typer.testing import CliRunner

from streamdash.grafana.command import grafana_export

app = typer.Typer()
grafana_app = typer.Typer(no_args_is_help=True)
app.add_typer(grafana_app, name="grafana")
grafana_app.command("export")(grafana_export)
runner = CliRunner()


def test_exports_the_builtin_streams_with_the_url_from_the_environment(tmp_path: Path) -> None:
    env = {"STREAMDASH_DATABASE_URL": "postgresql://ro:hunter2@pg.example:5433/dash"}
    result = runner.invoke(app, ["grafana", "export", "--out", str(tmp_path)], env=env)
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.output
    assert "STREAMDASH_PG_PASSWORD" in result.output
    assert len(list((tmp_path / "dashboards").glob("*.json"))) == 5
    data = yaml.safe_load((tmp_path / "provisioning/datasources/streamdash.yaml").read_text())
    assert data["datasources"][0]["url"] == "pg.example:5433"


SPEC = """
streams:
  shop:
    time: {field: ts, unit: ms}
    schema: {ts: int64, customer: string, amount: float64}
views:
  sales:
    from: shop
    window: {tumbling: 10s}
    group_by: [customer]
    metrics: {revenue: sum(amount)}
dashboards:
  shop:
    - {panel: line, view: sales, y: revenue, by: customer}
"""


def test_a_spec_argument_exports_only_its_streams(tmp_path: Path) -> None:
    spec = tmp_path / "shop.yaml"
    spec.write_text(SPEC)
    out = tmp_path / "out"
    result = runner.invoke(app, ["grafana", "export", "--out", str(out), str(spec)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "dashboards").iterdir()) == ["shop.json"]


def test_an_invalid_spec_fails_with_its_errors(tmp_path: Path) -> None:
    spec = Path(__file__).parents[2] / "fixtures" / "specs" / "broken.yaml"
    result = runner.invoke(app, ["grafana", "export", "--out", str(tmp_path), str(spec)])
    assert result.exit_code == 1
    assert "error(s)" in result.output
    assert not (tmp_path / "provisioning").exists()
