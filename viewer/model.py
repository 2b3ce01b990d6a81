"""Read the provisioned dashboards (config/grafana/dashboards/*.json) into typed objects.

The JSON files Grafana provisions are the only definition of panels, queries, layout, units and
variables; this module reads them as they are and never adds a panel of its own. A field's
display settings are the panel's defaults with its `byName` overrides applied, as in Grafana.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from viewer.macros import Variable, dashboard_variables


class DashboardError(ValueError):
    """A dashboard file that cannot be read or is not a Grafana dashboard."""


@dataclass(frozen=True)
class Grid:
    """A panel's place on Grafana's 24-column grid (rows of 30 px)."""

    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class FieldConfig:
    """How one field (column) is shown: unit, decimals, colour and limits."""

    unit: str | None = None
    decimals: int | None = None
    color_mode: str = "palette-classic"
    fixed_color: str | None = None
    thresholds: Sequence[tuple[float | None, str]] = ()
    min: float | None = None
    max: float | None = None
    no_value: str | None = None
    axis_right: bool = False
    display_name: str | None = None


@dataclass(frozen=True)
class Panel:
    """One panel of a dashboard, as its JSON defines it."""

    key: str
    type: str
    title: str
    description: str
    grid: Grid
    targets: Sequence[Mapping[str, Any]]
    options: Mapping[str, Any]
    defaults: Mapping[str, Any]
    overrides: Sequence[Mapping[str, Any]]
    max_data_points: int | None = None
    interval: str | None = None

    def field(self, name: str) -> FieldConfig:
        """Return the display settings of the field `name` (defaults, then overrides)."""
        values: dict[str, Any] = dict(self.defaults)
        for override in self.overrides:
            matcher = override.get("matcher", {})
            if matcher.get("id") == "byName" and matcher.get("options") == name:
                for prop in override.get("properties", []):
                    values[prop["id"]] = prop.get("value")
        return _field_config(values)

    @property
    def custom(self) -> Mapping[str, Any]:
        """The panel's `fieldConfig.defaults.custom` (draw style, line width, fill)."""
        return dict(self.defaults.get("custom") or {})


@dataclass(frozen=True)
class Row:
    """A row header across the grid."""

    title: str
    grid: Grid


@dataclass(frozen=True)
class Dashboard:
    """One dashboard file: its identity, defaults, variables and panels."""

    uid: str
    title: str
    path: Path
    refresh: str | None
    time_from: str
    time_to: str
    refresh_intervals: Sequence[str]
    variables: Sequence[Mapping[str, Any]]
    panels: Sequence[Panel]
    rows: Sequence[Row] = field(default_factory=tuple)
    timezone: str = "browser"

    def panel(self, key: str) -> Panel:
        """Return the panel with `key` (its id), or raise KeyError."""
        for panel in self.panels:
            if panel.key == key:
                return panel
        raise KeyError(key)

    def variable_models(self, query_options: Mapping[str, Sequence[str]]) -> dict[str, Variable]:
        """Return the template variables (All selected) with their options."""
        templating = {"templating": {"list": list(self.variables)}}
        return dashboard_variables(templating, query_options, strict=False)


def _number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _field_config(values: Mapping[str, Any]) -> FieldConfig:
    color = values.get("color") or {}
    steps = (values.get("thresholds") or {}).get("steps") or []
    decimals = values.get("decimals")
    return FieldConfig(
        unit=values.get("unit"),
        decimals=int(decimals) if isinstance(decimals, (int, float)) else None,
        color_mode=str(color.get("mode") or "palette-classic"),
        fixed_color=color.get("fixedColor"),
        thresholds=tuple((_number(s.get("value")), str(s.get("color"))) for s in steps),
        min=_number(values.get("min")),
        max=_number(values.get("max")),
        no_value=values.get("noValue"),
        axis_right=values.get("custom.axisPlacement") == "right",
        display_name=values.get("displayName"),
    )


def _grid(raw: Mapping[str, Any]) -> Grid:
    pos = raw.get("gridPos") or {}
    return Grid(
        x=int(pos.get("x", 0)),
        y=int(pos.get("y", 0)),
        w=int(pos.get("w", 12)),
        h=int(pos.get("h", 8)),
    )


def _panel(raw: Mapping[str, Any], index: int) -> Panel:
    config = raw.get("fieldConfig") or {}
    return Panel(
        key=str(raw.get("id", f"p{index}")),
        type=str(raw.get("type", "")),
        title=str(raw.get("title", "")),
        description=str(raw.get("description", "")),
        grid=_grid(raw),
        targets=[t for t in raw.get("targets", []) if not t.get("hide")],
        options=raw.get("options") or {},
        defaults=config.get("defaults") or {},
        overrides=config.get("overrides") or [],
        max_data_points=raw.get("maxDataPoints"),
        interval=raw.get("interval") or None,
    )


def parse_dashboard(model: Mapping[str, Any], path: Path) -> Dashboard:
    """Return the Dashboard of one parsed JSON model; rows' nested panels are shown expanded."""
    if not isinstance(model, Mapping) or "uid" not in model or "panels" not in model:
        raise DashboardError(f"{path}: not a Grafana dashboard (no uid or panels)")
    panels: list[Panel] = []
    rows: list[Row] = []
    for index, raw in enumerate(model["panels"]):
        if raw.get("type") == "row":
            rows.append(Row(str(raw.get("title", "")), _grid(raw)))
            panels.extend(_panel(p, index * 1000 + i) for i, p in enumerate(raw.get("panels", [])))
        else:
            panels.append(_panel(raw, index))
    time = model.get("time") or {}
    picker = model.get("timepicker") or {}
    return Dashboard(
        uid=str(model["uid"]),
        title=str(model.get("title", model["uid"])),
        path=path,
        refresh=model.get("refresh") or None,
        time_from=str(time.get("from", "now-6h")),
        time_to=str(time.get("to", "now")),
        refresh_intervals=list(picker.get("refresh_intervals") or ["5s", "10s", "30s", "1m", "5m"]),
        variables=list((model.get("templating") or {}).get("list", [])),
        panels=panels,
        rows=rows,
        timezone=str(model.get("timezone") or "browser"),
    )


def load_dashboards(directory: Path) -> dict[str, Dashboard]:
    """Return every dashboard in `directory` by uid, in file-name order."""
    files = sorted(directory.glob("*.json"))
    if not files:
        raise DashboardError(f"no dashboard files (*.json) in {directory}")
    result: dict[str, Dashboard] = {}
    for path in files:
        try:
            model = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DashboardError(f"{path}: cannot read the dashboard ({exc})") from None
        dashboard = parse_dashboard(model, path)
        if dashboard.uid in result:
            raise DashboardError(f"{path}: uid {dashboard.uid!r} is used twice")
        result[dashboard.uid] = dashboard
    return result
