"""Structure of the files `export_grafana` writes for the built-in streams (Grafana itself
cannot run here: these checks and the SQL runs in tests/integration/grafana stand in)."""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
import yaml

from streamdash.grafana import DATASOURCE_UID, PASSWORD_ENV, export_grafana
from streamdash.spec.dashboards import DashboardPanel, parse_dashboards
from streamdash.spec.loader import load_builtin

SECRET = "s3cr3t-Pa55"
URL = f"postgresql://analyst:{SECRET}@db.internal:6543/results?sslmode=verify-full"
BUILTIN = ("app_logs", "sensor", "user_events", "interactions", "users")
# spec panel type -> the Grafana panel types it may become
GRAFANA_TYPES = {
    "line": {"timeseries"},
    "gauge": {"gauge"},
    "stat": {"stat"},
    "bar": {"barchart"},
    "table": {"table"},
    "heatmap": {"table"},
    "scatter": {"xychart"},
    "histogram": {"histogram", "barchart"},
    "map": {"xychart"},
}


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("grafana")
    export_grafana(load_builtin(), directory, database_url=URL)
    return directory


def dashboard(out: Path, stream: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((out / "dashboards" / f"{stream}.json").read_text())
    return loaded


def spec_panels(stream: str) -> list[DashboardPanel]:
    return parse_dashboards(load_builtin())[stream]


def test_writes_the_provisioning_files_and_one_dashboard_per_builtin_stream(
    tmp_path: Path,
) -> None:
    written = export_grafana(load_builtin(), tmp_path, database_url=URL)
    relative = sorted(str(p.relative_to(tmp_path)) for p in written)
    assert relative == sorted(
        [
            "provisioning/datasources/streamdash.yaml",
            "provisioning/dashboards/streamdash.yaml",
            *(f"dashboards/{stream}.json" for stream in BUILTIN),
        ]
    )
    assert all(path.is_file() for path in written)


def test_datasource_comes_from_the_url_without_its_password(out: Path) -> None:
    data = yaml.safe_load((out / "provisioning/datasources/streamdash.yaml").read_text())
    assert data["apiVersion"] == 1
    (source,) = data["datasources"]
    assert source["uid"] == DATASOURCE_UID
    assert source["type"] == "grafana-postgresql-datasource"
    assert source["url"] == "db.internal:6543"
    assert source["user"] == "analyst"
    assert source["jsonData"]["database"] == "results"
    assert source["jsonData"]["sslmode"] == "verify-full"
    # Grafana expands $NAME from its own environment when it reads the file
    assert source["secureJsonData"] == {"password": f"${PASSWORD_ENV}"}


def test_no_file_contains_the_password(out: Path) -> None:
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) == 2 + len(BUILTIN)
    for path in files:
        assert SECRET not in path.read_text(), path


def test_dashboard_provider_points_at_the_dashboards_directory(out: Path) -> None:
    data = yaml.safe_load((out / "provisioning/dashboards/streamdash.yaml").read_text())
    (provider,) = data["providers"]
    assert provider["type"] == "file"
    assert Path(provider["options"]["path"]) == (out / "dashboards").resolve()


@pytest.mark.parametrize("stream", BUILTIN)
def test_every_spec_panel_is_a_grafana_panel_with_its_type_and_title(
    out: Path, stream: str
) -> None:
    model = dashboard(out, stream)
    drawn = [p for p in spec_panels(stream) if p.panel != "filter"]
    assert len(model["panels"]) == len(drawn)
    for spec, panel in zip(drawn, model["panels"], strict=True):
        assert panel["title"] == spec.heading
        assert panel["type"] in GRAFANA_TYPES[spec.panel], (spec.panel, panel["type"])
        (target,) = panel["targets"]
        assert target["rawSql"].startswith("SELECT ")
        assert target["format"] in ("time_series", "table")
        # a time series needs a `time` column; tables do not
        assert (target["format"] == "time_series") == (panel["type"] == "timeseries")


@pytest.mark.parametrize("stream", BUILTIN)
def test_panel_ids_are_unique_and_the_grid_has_no_overlap(out: Path, stream: str) -> None:
    panels = dashboard(out, stream)["panels"]
    ids = [p["id"] for p in panels]
    assert len(set(ids)) == len(ids)
    boxes = [p["gridPos"] for p in panels]
    for box in boxes:
        assert box["w"] > 0 and box["h"] > 0 and box["x"] >= 0 and box["x"] + box["w"] <= 24
    for a, b in combinations(boxes, 2):
        apart = (
            a["x"] + a["w"] <= b["x"]
            or b["x"] + b["w"] <= a["x"]
            or a["y"] + a["h"] <= b["y"]
            or b["y"] + b["h"] <= a["y"]
        )
        assert apart, (a, b)


def test_width_twelfths_become_grid_columns(out: Path) -> None:
    panels = dashboard(out, "interactions")["panels"]
    # four stat cards of width 3 share the first row
    assert [p["gridPos"]["w"] for p in panels[:4]] == [6, 6, 6, 6]
    assert [p["gridPos"]["x"] for p in panels[:4]] == [0, 6, 12, 18]
    assert {p["gridPos"]["y"] for p in panels[:4]} == {0}
    assert panels[4]["gridPos"]["y"] > 0


@pytest.mark.parametrize("stream", BUILTIN)
def test_every_datasource_reference_is_the_provisioned_one(out: Path, stream: str) -> None:
    model = dashboard(out, stream)
    refs = [p["datasource"] for p in model["panels"]]
    refs += [t["datasource"] for p in model["panels"] for t in p["targets"]]
    refs += [v["datasource"] for v in model["templating"]["list"]]
    assert refs
    assert all(ref["uid"] == DATASOURCE_UID for ref in refs)


def test_dashboard_model_basics(out: Path) -> None:
    uids = set()
    for stream in BUILTIN:
        model = dashboard(out, stream)
        assert model["schemaVersion"] >= 36
        assert model["title"].endswith(stream)
        assert model["refresh"]
        uids.add(model["uid"])
        assert len(model["uid"]) <= 40
    assert len(uids) == len(BUILTIN)


@pytest.mark.parametrize(
    ("stream", "column", "label"),
    [("app_logs", "application_id", "Application"), ("sensor", "device_id", "Device"),
     ("user_events", "country", "Country")],
)  # fmt: skip
def test_a_filter_panel_is_a_template_variable_used_by_the_panels_with_its_column(
    out: Path, stream: str, column: str, label: str
) -> None:
    model = dashboard(out, stream)
    (variable,) = model["templating"]["list"]
    assert (variable["name"], variable["label"], variable["type"]) == (column, label, "query")
    assert variable["multi"] and variable["includeAll"]
    assert "SELECT DISTINCT" in variable["query"]
    pipeline = load_builtin()
    for spec, panel in zip(
        [p for p in spec_panels(stream) if p.panel != "filter"], model["panels"], strict=True
    ):
        has_column = column in pipeline.views[spec.view].group_by
        uses = f"IN (${column})" in panel["targets"][0]["rawSql"]
        assert uses == has_column, panel["title"]


def test_streams_without_a_filter_have_no_variables(out: Path) -> None:
    assert dashboard(out, "users")["templating"]["list"] == []


def test_units_map_to_grafana_units(out: Path) -> None:
    panels = {p["title"]: p for p in dashboard(out, "app_logs")["panels"]}
    gauge = panels["Error rate per application (latest 10 s window)"]
    assert gauge["fieldConfig"]["defaults"]["unit"] == "percentunit"
    assert (gauge["fieldConfig"]["defaults"]["min"], gauge["fieldConfig"]["defaults"]["max"]) == (
        0,
        0.2,
    )
    assert panels["p95 latency over time (10 s windows)"]["fieldConfig"]["defaults"]["unit"] == (
        "ms"
    )
    requests = panels["Requests per 10 s window"]["fieldConfig"]["defaults"]["unit"]
    assert requests == "suffix: requests"


def test_without_a_url_the_embedded_defaults_are_written(tmp_path: Path) -> None:
    export_grafana(load_builtin("users"), tmp_path, database_url=None)
    data = yaml.safe_load((tmp_path / "provisioning/datasources/streamdash.yaml").read_text())
    (source,) = data["datasources"]
    assert (source["user"], source["jsonData"]["database"]) == ("postgres", "streamdash")
    assert source["jsonData"]["sslmode"] == "disable"
    assert sorted(p.name for p in (tmp_path / "dashboards").iterdir()) == ["users.json"]


def test_a_remote_server_without_sslmode_gets_tls(tmp_path: Path) -> None:
    export_grafana(load_builtin("users"), tmp_path, database_url="postgresql://u@pg.example/d")
    data = yaml.safe_load((tmp_path / "provisioning/datasources/streamdash.yaml").read_text())
    assert data["datasources"][0]["jsonData"]["sslmode"] == "require"
    assert data["datasources"][0]["url"] == "pg.example:5432"


def test_dashboards_path_override(tmp_path: Path) -> None:
    export_grafana(
        load_builtin("users"), tmp_path, database_url=None, dashboards_path="/var/lib/grafana/sd"
    )
    data = yaml.safe_load((tmp_path / "provisioning/dashboards/streamdash.yaml").read_text())
    assert data["providers"][0]["options"]["path"] == "/var/lib/grafana/sd"
