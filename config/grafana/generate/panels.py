"""Panel, variable and dashboard builders: plain dicts in Grafana's dashboard model (schema 42).

In: a title, a description, one SQL query and a size per panel. Out: JSON-ready dicts whose
targets use the provisioned PostgreSQL data source (uid `clickstream-pg`).
"""

from __future__ import annotations

from typing import Any

from processor.dashboard import BY_NAME as KPI_TABLE

DS_UID = "clickstream-pg"
DS_TYPE = "grafana-postgresql-datasource"
DATASOURCE: dict[str, str] = {"type": DS_TYPE, "uid": DS_UID}
# The dashboard schemaVersion of the pinned Grafana (@grafana/schema's defaultDashboard), so that
# Grafana loads the JSON as written and runs no migration on it; tests/grafana checks it.
SCHEMA_VERSION = 42
REFRESH = "5s"
TIME_RANGE = {"from": "now-6h", "to": "now"}

Panel = dict[str, Any]

# Filters shared by the panels whose tables have those columns. `category` has a custom "All"
# value so that events without a category (home, search, cart pages) stay in when nothing is
# selected; `device` is a fixed list (the schema's CHECK constraint).
DEVICE_FILTER = "device_type IN ($device)"
CATEGORY_FILTER = "('__all' IN ($category) OR category IN ($category))"
EVENT_FILTERS = f"$__timeFilter(event_time) AND {DEVICE_FILTER} AND {CATEGORY_FILTER}"
SESSION_FILTERS = f"$__timeFilter(session_start) AND {DEVICE_FILTER}"
# Hourly tables: include the hour that contains the start of the range.
HOURS_IN_RANGE = (
    "window_start >= date_trunc('hour', $__timeFrom()::timestamptz) "
    "AND window_start <= $__timeTo()::timestamptz"
)

_PROPERTY_IDS = {"axis": "custom.axisPlacement"}


def override(column: str, **props: Any) -> dict[str, Any]:
    """Return a field override for one result column (unit=, decimals=, axis="right")."""
    properties = [{"id": _PROPERTY_IDS.get(k, k), "value": v} for k, v in props.items()]
    return {"matcher": {"id": "byName", "options": column}, "properties": properties}


def _panel(
    kind: str,
    title: str,
    description: str,
    sql: str,
    size: tuple[int, int],
    fmt: str = "table",
    unit: str = "short",
    decimals: int | None = None,
    overrides: list[dict[str, Any]] | None = None,
    options: dict[str, Any] | None = None,
) -> Panel:
    defaults: dict[str, Any] = {"unit": unit, "color": {"mode": "palette-classic"}}
    if decimals is not None:
        defaults["decimals"] = decimals
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"h": size[1], "w": size[0], "x": 0, "y": 0},
        "targets": [
            {
                "refId": "A",
                "datasource": DATASOURCE,
                "editorMode": "code",
                "format": fmt,
                "rawQuery": True,
                "rawSql": " ".join(sql.split()),
            }
        ],
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": options or {},
    }


_REDUCE_LAST = {"values": False, "calcs": ["lastNotNull"], "fields": ""}
_LEGEND = {"displayMode": "list", "placement": "bottom", "showLegend": True}


def stat(
    title: str,
    description: str,
    sql: str,
    unit: str = "short",
    decimals: int | None = None,
    size: tuple[int, int] = (4, 4),
) -> Panel:
    """Return a stat panel showing each numeric column of a one-row query."""
    options = {
        "reduceOptions": _REDUCE_LAST,
        "colorMode": "value",
        "graphMode": "none",
        "justifyMode": "auto",
        "textMode": "auto",
        "orientation": "auto",
    }
    return _panel("stat", title, description, sql, size, "table", unit, decimals, None, options)


def kpi(metric: str, size: tuple[int, int] = (4, 4)) -> Panel:
    """Return a stat panel for one KPI row of dashboard_metrics, as the KPI table defines it."""
    k = KPI_TABLE[metric]
    sql = (
        f'SELECT metric_value AS "{k.label}" FROM dashboard_metrics '
        f"WHERE metric_name = '{k.name}'"
    )
    description = k.meaning[0].upper() + k.meaning[1:] + "."
    return stat(k.label, description, sql, k.unit, k.decimals, size)


def timeseries(
    title: str,
    description: str,
    sql: str,
    unit: str = "short",
    overrides: list[dict[str, Any]] | None = None,
    bars: bool = False,
    size: tuple[int, int] = (12, 8),
) -> Panel:
    """Return a time series panel; the query returns `time`, then one column per series."""
    options = {"legend": _LEGEND, "tooltip": {"mode": "multi", "sort": "none"}}
    panel = _panel(
        "timeseries", title, description, sql, size, "time_series", unit, None, overrides, options
    )
    panel["fieldConfig"]["defaults"]["custom"] = {
        "drawStyle": "bars" if bars else "line",
        "lineWidth": 2,
        "fillOpacity": 60 if bars else 10,
        "showPoints": "auto",
        "spanNulls": False,
    }
    return panel


def table(
    title: str,
    description: str,
    sql: str,
    overrides: list[dict[str, Any]],
    sort_by: str,
    size: tuple[int, int] = (12, 8),
) -> Panel:
    """Return a table panel sorted by one of its columns, largest first."""
    options = {
        "showHeader": True,
        "cellHeight": "sm",
        "sortBy": [{"displayName": sort_by, "desc": True}],
    }
    return _panel(
        "table", title, description, sql, size, "table", "short", None, overrides, options
    )


def bargauge(title: str, description: str, sql: str, size: tuple[int, int] = (12, 8)) -> Panel:
    """Return a horizontal bar gauge with one bar per numeric column: a funnel."""
    options = {
        "reduceOptions": _REDUCE_LAST,
        "orientation": "horizontal",
        "displayMode": "gradient",
        "valueMode": "color",
        "showUnfilled": True,
        "namePlacement": "top",
        "sizing": "auto",
        "minVizHeight": 16,
        "minVizWidth": 8,
        "maxVizHeight": 300,
    }
    panel = _panel("bargauge", title, description, sql, size, "table", "short", 0, None, options)
    panel["fieldConfig"]["defaults"].update({"min": 0, "color": {"mode": "continuous-BlPu"}})
    return panel


def histogram(
    title: str, description: str, sql: str, unit: str, bucket: float, size: tuple[int, int]
) -> Panel:
    """Return a histogram over the single numeric column of a query."""
    options = {"bucketSize": bucket, "bucketOffset": 0, "combine": False, "legend": _LEGEND}
    return _panel("histogram", title, description, sql, size, "table", unit, None, None, options)


def barchart(
    title: str, description: str, sql: str, x_field: str, unit: str, size: tuple[int, int]
) -> Panel:
    """Return a bar chart with one group of bars per row, labelled by `x_field`."""
    options = {
        "xField": x_field,
        "orientation": "auto",
        "showValue": "auto",
        "stacking": "none",
        "groupWidth": 0.7,
        "barWidth": 0.9,
        "xTickLabelRotation": 0,
        "legend": _LEGEND,
        "tooltip": {"mode": "single", "sort": "none"},
    }
    return _panel("barchart", title, description, sql, size, "table", unit, None, None, options)


def piechart(title: str, description: str, sql: str, size: tuple[int, int]) -> Panel:
    """Return a donut chart over the numeric columns of a one-row query."""
    options = {
        "reduceOptions": _REDUCE_LAST,
        "pieType": "donut",
        "displayLabels": ["percent"],
        "legend": {"displayMode": "list", "placement": "right", "showLegend": True},
        "tooltip": {"mode": "single", "sort": "none"},
    }
    return _panel("piechart", title, description, sql, size, "table", "short", None, None, options)


def layout(rows: list[tuple[str, list[Panel]]]) -> list[Panel]:
    """Place titled rows of sized panels on Grafana's 24-column grid and number every panel."""
    placed: list[Panel] = []
    y = 0
    for title, panels in rows:
        row = {"type": "row", "title": title, "collapsed": False, "panels": []}
        placed.append({**row, "id": len(placed) + 1, "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}})
        y += 1
        x, height = 0, 0
        for panel in panels:
            w, h = panel["gridPos"]["w"], panel["gridPos"]["h"]
            if x + w > 24:
                x, y, height = 0, y + height, 0
            placed.append(
                {**panel, "id": len(placed) + 1, "gridPos": {"h": h, "w": w, "x": x, "y": y}}
            )
            x, height = x + w, max(height, h)
        y += height
    return placed


def variables() -> list[dict[str, Any]]:
    """Return the template variables of both dashboards: device type and category."""
    devices = ["desktop", "mobile", "tablet"]
    category_sql = (
        "SELECT DISTINCT category FROM product_metrics WHERE category IS NOT NULL ORDER BY 1"
    )
    all_selected = {"selected": True, "text": ["All"], "value": ["$__all"]}
    options = [{"selected": True, "text": "All", "value": "$__all"}]
    options += [{"selected": False, "text": d, "value": d} for d in devices]
    common = {"multi": True, "includeAll": True, "current": all_selected, "hide": 0}
    return [
        {
            "name": "device",
            "label": "Device type",
            "type": "custom",
            "query": ",".join(devices),
            "options": options,
            **common,
        },
        {
            "name": "category",
            "label": "Category",
            "type": "query",
            "datasource": DATASOURCE,
            "query": category_sql,
            "refresh": 2,
            "sort": 1,
            "allValue": "'__all'",
            "options": [],
            **common,
        },
    ]


def dashboard(uid: str, title: str, description: str, panels: list[Panel]) -> dict[str, Any]:
    """Return a complete dashboard: refreshing every 5 s, last 6 hours, shared variables."""
    annotation = {
        "builtIn": 1,
        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
        "enable": True,
        "hide": True,
        "iconColor": "rgba(0, 211, 255, 1)",
        "name": "Annotations & Alerts",
        "type": "dashboard",
    }
    link = {
        "title": "Clickstream dashboards",
        "type": "dashboards",
        "tags": ["clickstream"],
        "asDropdown": False,
        "includeVars": True,
        "keepTime": True,
        "targetBlank": False,
        "icon": "external link",
        "tooltip": "",
    }
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["clickstream"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "time": TIME_RANGE,
        "timepicker": {"refresh_intervals": ["5s", "10s", "30s", "1m", "5m"]},
        "refresh": REFRESH,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "links": [link],
        "annotations": {"list": [annotation]},
        "templating": {"list": variables()},
        "panels": panels,
    }
