"""The provisioned dashboards use our data source, time picker, variables and grid.

Their validity as Grafana's dashboard model (the pinned release's schema) is
test_grafana_schema.py's.
"""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
from typing import Any

import pytest
import yaml

from infra.env import ROOT, load_env
from tests.grafana.dashboards import DASHBOARD_FILES, GRAFANA, load, panels, queries

MODELS = {path.name: load(path) for path in DASHBOARD_FILES}
PROVISIONED_DS = yaml.safe_load((GRAFANA / "provisioning/datasources/postgres.yml").read_text())
DATASOURCE = PROVISIONED_DS["datasources"][0]
TIME_COLUMNS = ("event_time", "session_start", "window_start", "committed_at", "rejected_at")


def test_generated_json_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(GRAFANA / "generate"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_both_dashboards_exist() -> None:
    titles = {m["title"] for m in MODELS.values()}
    assert titles == {"Clickstream overview", "Funnel and sessions"}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_dashboard_settings(name: str) -> None:
    model = MODELS[name]
    assert re.fullmatch(r"[a-zA-Z0-9_-]{8,40}", model["uid"])
    assert model["time"] == {"from": "now-6h", "to": "now"}
    assert model["refresh"] in {"5s", "10s"}
    assert model["schemaVersion"] >= 39
    names = {v["name"] for v in model["templating"]["list"]}
    assert names == {"device", "category"}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_panels_have_unique_ids_and_fit_the_grid_without_overlap(name: str) -> None:
    every = MODELS[name]["panels"]
    ids = [p["id"] for p in every]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in every:
        g = panel["gridPos"]
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24, panel["title"]
        mine = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not mine & cells, f"{panel['title']} overlaps another panel"
        cells |= mine


@pytest.mark.parametrize(("qid", "model", "panel", "target"), list(queries()))
def test_query_targets_use_the_provisioned_datasource(
    qid: str, model: dict[str, Any], panel: dict[str, Any], target: dict[str, Any]
) -> None:
    expected = {"type": DATASOURCE["type"], "uid": DATASOURCE["uid"]}
    assert panel["datasource"] == expected
    assert target["datasource"] == expected
    assert target["rawQuery"] is True and target["editorMode"] == "code"
    assert target["format"] == ("time_series" if panel["type"] == "timeseries" else "table")
    sql = target["rawSql"]
    assert "analytics." not in sql, "the reader's search_path finds tables; keep names unqualified"
    if any(column in sql for column in TIME_COLUMNS):
        assert "$__timeFilter(" in sql or "$__timeFrom()" in sql, f"{qid} ignores the time picker"
    if panel["type"] == "timeseries":
        assert re.search(r'\$__timeGroupAlias\(|AS "time"', sql), f"{qid} has no time column"


def test_every_panel_has_a_query_and_a_description() -> None:
    for model in MODELS.values():
        for panel in panels(model):
            assert panel.get("targets"), panel["title"]
            assert panel.get("description"), panel["title"]


def test_required_panels_are_present() -> None:
    by_type = {(p["type"], p["title"]) for m in MODELS.values() for p in panels(m)}
    assert ("bargauge", "Session funnel") in by_type
    assert ("histogram", "Session length") in by_type
    assert ("table", "Top products") in by_type
    titles = {title for _, title in by_type}
    health = ("Events in per second", "Batch duration", "Processing lag", "Rejected", "Late events")
    for title in health:
        assert title in titles


def test_kpi_names_are_ones_the_processor_writes() -> None:
    from processor.dashboard import DASHBOARD_METRIC_NAMES
    from processor.status import KPIS

    used = {
        name
        for model in MODELS.values()
        for panel in panels(model)
        for target in panel["targets"]
        for name in re.findall(r"metric_name = '(\w+)'", target["rawSql"])
    }
    assert used and used <= set(DASHBOARD_METRIC_NAMES)
    assert set(KPIS) <= set(DASHBOARD_METRIC_NAMES)


def test_datasource_provisioning_uses_the_reader_role_from_the_environment() -> None:
    assert PROVISIONED_DS["apiVersion"] == 1
    assert DATASOURCE["type"] == "grafana-postgresql-datasource"
    assert DATASOURCE["user"] == "${POSTGRES_READONLY_USER}"
    assert DATASOURCE["secureJsonData"]["password"] == "${POSTGRES_READONLY_PASSWORD}"
    assert DATASOURCE["jsonData"]["database"] == "${POSTGRES_DB}"
    text = (GRAFANA / "provisioning/datasources/postgres.yml").read_text()
    env = load_env(ROOT, environ={})
    for name in re.findall(r"\$\{(\w+)\}", text):
        assert name in env, f"{name} is used by the datasource but missing from .env.example"


def test_dashboard_provider_loads_the_dashboards_folder() -> None:
    provider = yaml.safe_load((GRAFANA / "provisioning/dashboards/dashboards.yml").read_text())
    (only,) = provider["providers"]
    assert only["type"] == "file"
    assert only["options"]["path"] == "${GRAFANA_DASHBOARDS_DIR}"
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    grafana = compose["services"]["grafana"]
    mount = next(v for v in grafana["volumes"] if v.startswith("./config/grafana/dashboards:"))
    assert mount.split(":")[1] == grafana["environment"]["GRAFANA_DASHBOARDS_DIR"]


def test_grafana_ini_turns_anonymous_access_off() -> None:
    ini = configparser.ConfigParser()
    ini.read(GRAFANA / "grafana.ini")
    assert ini["auth.anonymous"]["enabled"] == "false"
    assert ini["users"]["allow_sign_up"] == "false"
    assert "admin_password" not in ini["security"], "the admin password comes from .env"
