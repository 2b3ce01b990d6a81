"""The dashboards against the schema of the Grafana release that docker-compose.yml pins.

infra/grafana_schema.py turns that release's @grafana/schema npm package (the TypeScript types of
Grafana's dashboard JSON model and of each core panel plugin) into JSON Schemas, installed once
under .local/ (npm, about 10 s cold; instant afterwards). Checked here:

- each dashboard file against the `Dashboard` type: every key known, every required key there,
  every value of the declared type or enum; schemaVersion is the release's current one;
- each panel's `options` and `fieldConfig.defaults.custom` against its plugin's `Options` and
  `FieldConfig` types, and each field override's property against the type of the field it sets.
  Keys and types only: Grafana fills an option a panel leaves out from the plugin's default, so
  the types' `required` lists do not apply to saved panels.

Not covered by @grafana/schema: the PostgreSQL query model of `targets` (test_dashboards.py
checks the fields we use) and the option defaults of a plugin (Grafana's frontend code).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from infra.env import ROOT
from infra.errors import InfraError
from infra.grafana_schema import grafana_version, load_schemas
from tests.grafana.dashboards import DASHBOARD_FILES, load, panels

MODELS = {path.name: load(path) for path in DASHBOARD_FILES}
PANELS = {
    f"{model['uid']}:{panel['title']}": panel
    for model in MODELS.values()
    for panel in panels(model)
}

Schema = dict[str, Any]


@pytest.fixture(scope="module")
def schemas() -> dict[str, Any]:
    try:
        return load_schemas()
    except InfraError as exc:
        pytest.fail(f"Grafana's dashboard schema is not available: {exc}", pytrace=False)


def problems(schema: Schema, instance: Any) -> list[str]:
    """Every way `instance` breaks `schema`, one line each: JSON path and message."""
    errors = Draft7Validator(schema).iter_errors(instance)
    return sorted(f"/{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def without_required(schema: Any) -> Any:
    """A copy of the schema in which no property is required (types and known keys stay)."""
    if isinstance(schema, list):
        return [without_required(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "definitions", "patternProperties"):
            out[key] = {name: without_required(s) for name, s in value.items()}
        elif key != "required":
            out[key] = without_required(value)
    return out


def resolve(root: Schema, node: Schema) -> Schema:
    """Follow `$ref`s to the definition (refs are local: #/definitions/Name)."""
    while "$ref" in node:
        node = root["definitions"][node["$ref"].removeprefix("#/definitions/")]
    return node


def property_schema(root: Schema, node: Schema, path: list[str]) -> Schema | None:
    """The schema of `path` (keys) below `node`, as a stand-alone schema; None if unknown."""
    for key in path:
        node = resolve(root, node)
        known = node.get("properties", {})
        if key not in known:
            return None
        node = known[key]
    return {**node, "definitions": root.get("definitions", {})}


def plugin(schemas: dict[str, Any], kind: str) -> dict[str, Any]:
    entry = schemas["panels"].get(kind)
    assert entry is not None, f"@grafana/schema {schemas['version']} has no panel plugin {kind!r}"
    assert "error" not in entry, f"{kind}: the schema could not be generated: {entry['error']}"
    assert entry["options"], f"{kind}: no Options type"
    return entry


def panel_problems(schemas: dict[str, Any], panel: dict[str, Any]) -> list[str]:
    """What the panel's plugin schema and the FieldConfig type reject in its options and fields."""
    entry = plugin(schemas, panel["type"])
    found = [f"options{p}" for p in problems(without_required(entry["options"]), panel["options"])]
    field_config = panel["fieldConfig"]
    custom = field_config["defaults"].get("custom", {})
    custom_schema = entry.get("fieldConfig")
    if custom_schema is None:
        found += [f"fieldConfig.defaults.custom: {panel['type']} has none"] if custom else []
    else:
        found += [
            f"fieldConfig.defaults.custom{p}"
            for p in problems(without_required(custom_schema), custom)
        ]
    dashboard = schemas["dashboard"]
    standard = dashboard["definitions"]["FieldConfig"]
    for i, rule in enumerate(field_config["overrides"]):
        for prop in rule["properties"]:
            first, *rest = prop["id"].split(".")
            if first == "custom":
                sub = custom_schema and property_schema(custom_schema, custom_schema, rest)
            else:
                sub = property_schema(dashboard, standard, [first, *rest])
            where = f"fieldConfig.overrides[{i}] {prop['id']}"
            if not sub:
                found.append(f"{where}: no such field property for {panel['type']}")
            else:
                found += [f"{where}{p}" for p in problems(without_required(sub), prop["value"])]
    return found


def test_the_schema_is_the_pinned_grafana_release(schemas: dict[str, Any]) -> None:
    assert schemas["package"] == "@grafana/schema"
    assert schemas["version"] == grafana_version(), "docker-compose.yml's grafana tag"
    assert isinstance(schemas["schemaVersion"], int) and schemas["schemaVersion"] >= 42


@pytest.mark.parametrize("name", sorted(MODELS))
def test_dashboard_matches_grafana_dashboard_model(name: str, schemas: dict[str, Any]) -> None:
    assert problems(schemas["dashboard"], MODELS[name]) == []


@pytest.mark.parametrize("name", sorted(MODELS))
def test_schema_version_is_the_pinned_grafana_current_one(
    name: str, schemas: dict[str, Any]
) -> None:
    """Grafana migrates an older schemaVersion when it loads it; the current one it loads as is."""
    assert MODELS[name]["schemaVersion"] == schemas["schemaVersion"]


@pytest.mark.parametrize("key", sorted(PANELS))
def test_panel_options_and_fields_match_the_plugin_schema(
    key: str, schemas: dict[str, Any]
) -> None:
    assert panel_problems(schemas, PANELS[key]) == []


def test_every_panel_type_has_a_plugin_schema(schemas: dict[str, Any]) -> None:
    for kind in sorted({p["type"] for p in PANELS.values()}):
        plugin(schemas, kind)


def test_the_checks_reject_what_grafana_does_not_know(schemas: dict[str, Any]) -> None:
    """The validation is real: known mistakes in a copy of our JSON are each reported."""
    model = copy.deepcopy(MODELS["clickstream-overview.json"])
    model["refreshInterval"] = "5s"  # not a dashboard key
    model["graphTooltip"] = 3  # not one of 0, 1, 2
    model["links"][0].pop("icon")  # required
    model["templating"]["list"][0]["type"] = "dropdown"  # not a variable type
    found = "\n".join(problems(schemas["dashboard"], model))
    for fragment in ("'refreshInterval' was unexpected", "/graphTooltip", "'icon' is a required"):
        assert fragment in found
    assert "/templating/list/0/type" in found

    by_type = {p["type"]: p for p in panels(model)}
    stat = copy.deepcopy(by_type["stat"])
    stat["options"]["colorMode"] = "rainbow"
    stat["fieldConfig"]["defaults"]["custom"] = {"lineWidth": 2}
    table = copy.deepcopy(by_type["table"])
    table["options"]["footer"] = {"show": False}  # moved to fieldConfig in Grafana 12.2
    table["fieldConfig"]["overrides"] = [
        {"matcher": {"id": "byName", "options": "x"}, "properties": [{"id": "unitt", "value": 1}]}
    ]
    series = copy.deepcopy(by_type["timeseries"])
    series["fieldConfig"]["defaults"]["custom"]["drawStyle"] = "dots"
    series["fieldConfig"]["overrides"] = [
        {
            "matcher": {"id": "byName", "options": "x"},
            "properties": [{"id": "decimals", "value": "2"}],
        }
    ]
    found = "\n".join(line for p in (stat, table, series) for line in panel_problems(schemas, p))
    for fragment in (
        "options/colorMode: 'rainbow'",
        "custom: stat has none",
        "'footer' was unexpected",
        "unitt: no such field property",
        "custom/drawStyle: 'dots'",
        "decimals/: '2' is not of type 'number'",
    ):
        assert fragment in found, f"{fragment!r} not reported in:\n{found}"


def test_the_docs_name_the_pinned_grafana_release() -> None:
    pinned = grafana_version()
    for doc in (ROOT / "README.md", ROOT / "docs" / "dashboards.md"):
        named = set(re.findall(r"grafana/grafana:(\d+\.\d+\.\d+)", doc.read_text("utf-8")))
        assert named == {pinned}, f"{doc.name} names Grafana {sorted(named)}, compose pins {pinned}"


def test_without_npm_the_setup_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import infra.apt
    import infra.grafana_schema as setup

    monkeypatch.setattr(setup, "schema_dir", lambda version: tmp_path / version)
    monkeypatch.setattr(infra.apt.shutil, "which", lambda name: None)
    monkeypatch.setattr(infra.apt.os, "geteuid", lambda: 1000)  # not root: no apt-get
    with pytest.raises(InfraError) as caught:
        setup.ensure_schemas("13.2.3")
    message = str(caught.value)
    assert "npm (Node.js) is needed" in message and "apt-get install -y npm" in message
