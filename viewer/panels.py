"""Draw one panel from its query results: Plotly figures for charts, HTML for stats and tables.

In: a `Panel` (from the dashboard JSON), its frames or an error, the time range and the
browser's time zone. Out: a Dash component whose container carries `data-panel-title`,
`data-panel-type` and `data-state` (`ok`, `no-data` or `error`), with the error's text shown in
the panel as Grafana shows it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import plotly.graph_objects as go
from dash import dcc, html
from dash.development.base_component import Component

from viewer.macros import TimeRange
from viewer.model import FieldConfig, Panel
from viewer.query import Frame
from viewer.units import PALETTE, axis_format, format_value

NO_DATA = "No data"
_TEXT = "#ccccdc"
_GRID = "rgba(204, 204, 220, 0.12)"


LONG_STAT = 9  # characters of a stat value that still fit the large font in a narrow panel


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def _float(value: Any) -> float | None:
    return float(value) if _is_number(value) else None


def zone(name: str | None) -> ZoneInfo | None:
    """Return the browser's zone, or None (UTC) for an unknown or missing name."""
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _to_time(value: Any, tz: ZoneInfo | None) -> datetime | None:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif _is_number(value):
        seconds = float(value)
        # Grafana reads numeric time columns as epoch seconds, or milliseconds when that large.
        moment = datetime.fromtimestamp(seconds / 1000 if seconds > 1e11 else seconds, UTC)
    else:
        return None
    return moment.astimezone(tz or UTC).replace(tzinfo=None)


def color_for(config: FieldConfig, index: int, value: float | None) -> str:
    """Return a field's colour: fixed, by thresholds, or the classic palette by field index."""
    if config.color_mode == "fixed" and config.fixed_color:
        return config.fixed_color
    if config.color_mode == "thresholds":
        steps = config.thresholds or ((None, "green"), (80.0, "red"))
        chosen = steps[0][1]
        for limit, colour in steps:
            if limit is None or (value is not None and value >= limit):
                chosen = colour
        return chosen
    return PALETTE[index % len(PALETTE)]


def _reduce(frame: Frame) -> list[tuple[str, Any]]:
    """Grafana's reduce `lastNotNull` per field: one (name, value) per non-time column."""
    result = []
    for index, name in enumerate(frame.columns):
        values = [row[index] for row in frame.rows if row[index] is not None]
        last = values[-1] if values else None
        if name == "time" and isinstance(last, datetime):
            continue
        result.append((name, last))
    return result


C = TypeVar("C", bound=Component)


def with_data(component: C, **values: str) -> C:
    """Set `data-*` attributes (`panel_title` becomes `data-panel-title`) on a component."""
    for key, value in values.items():
        setattr(component, "data-" + key.replace("_", "-"), value)
    return component


def _container(panel: Panel, state: str, body: Any) -> html.Div:
    box = html.Div(
        [
            html.Div(panel.title, className="panel-title", title=panel.description),
            html.Div(body, className="panel-body"),
        ],
        className=f"panel panel-{panel.type} state-{state}",
    )
    return with_data(box, panel_title=panel.title, panel_type=panel.type, state=state)


def error_panel(panel: Panel, message: str) -> html.Div:
    """The panel with the query's error written in it (never a blank)."""
    return _container(
        panel,
        "error",
        html.Div([html.Span("⚠ ", className="error-mark"), message], className="panel-error"),
    )


def no_data_panel(panel: Panel) -> html.Div:
    """The panel with its "No data" text (the field's noValue when set)."""
    text = panel.field("").no_value or NO_DATA
    return _container(panel, "no-data", html.Div(text, className="no-data"))


def loading_panel(panel: Panel) -> html.Div:
    """The panel before its first answer."""
    return _container(panel, "loading", html.Div("Loading…", className="no-data"))


def _figure_layout(fig: go.Figure, panel: Panel, legend: bool = True) -> go.Figure:
    placement = (panel.options.get("legend") or {}).get("placement", "bottom")
    show = legend and (panel.options.get("legend") or {}).get("showLegend", True)
    fig.update_layout(
        template="plotly_dark",
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font={"color": _TEXT, "size": 11},
        margin={"l": 48, "r": 16, "t": 8, "b": 8},
        showlegend=bool(show),
        legend=(
            {"orientation": "h", "yanchor": "top", "y": -0.12, "x": 0}
            if placement == "bottom"
            else {"orientation": "v", "x": 1.02, "y": 1}
        ),
        hovermode="x unified"
        if (panel.options.get("tooltip") or {}).get("mode") == "multi"
        else "closest",
        autosize=True,
    )
    fig.update_xaxes(gridcolor=_GRID, zeroline=False)
    fig.update_yaxes(gridcolor=_GRID, zeroline=False)
    return fig


def _graph(panel: Panel, fig: go.Figure) -> dcc.Graph:
    return dcc.Graph(
        figure=fig,
        config={"displayModeBar": False, "responsive": True},
        style={"height": "100%", "width": "100%"},
        className="panel-graph",
    )


def _numeric_columns(frame: Frame, skip: Sequence[str] = ()) -> list[str]:
    names = []
    for index, name in enumerate(frame.columns):
        values = [row[index] for row in frame.rows if row[index] is not None]
        if name not in skip and values and all(_is_number(v) for v in values):
            names.append(name)
    return names


def _has_values(frame: Frame, columns: Sequence[str]) -> bool:
    return any(frame.column(c)[i] is not None for c in columns for i in range(len(frame.rows)))


def timeseries(panel: Panel, frames: Sequence[Frame], span: TimeRange, tz: ZoneInfo | None) -> Any:
    """Lines or bars per series over the picker's range; a right axis where overrides say so."""
    fig = go.Figure()
    index = 0
    right = False
    custom = panel.custom
    for frame in frames:
        if "time" not in frame.columns:
            continue
        times = [_to_time(t, tz) for t in frame.column("time")]
        for name in _numeric_columns(frame, skip=["time"]):
            config = panel.field(name)
            values = [_float(v) for v in frame.column(name)]
            text = [format_value(v, config.unit, config.decimals) for v in frame.column(name)]
            colour = color_for(config, index, None)
            axis = "y2" if config.axis_right else "y"
            right = right or config.axis_right
            common = {
                "x": times,
                "y": values,
                "name": config.display_name or name,
                "yaxis": axis,
                "customdata": text,
                "hovertemplate": "%{customdata}",
                "marker": {"color": colour},
            }
            if custom.get("drawStyle") == "bars":
                opacity = max(0.2, float(custom.get("fillOpacity", 80)) / 100)
                fig.add_trace(go.Bar(**common, opacity=opacity, offsetgroup=str(index)))
            else:
                fill = float(custom.get("fillOpacity", 0))
                fig.add_trace(
                    go.Scatter(
                        **common,
                        mode=_line_mode(str(custom.get("showPoints", "auto")), len(times)),
                        line={"color": colour, "width": float(custom.get("lineWidth", 1))},
                        fill="tozeroy" if fill > 0 else None,
                        fillcolor=_alpha(colour, fill / 100) if fill > 0 else None,
                        connectgaps=bool(custom.get("spanNulls", False)),
                    )
                )
            index += 1
    if not fig.data:
        return None
    start, end = (_to_time(span.start, tz), _to_time(span.end, tz))
    _figure_layout(fig, panel)
    fig.update_xaxes(type="date", range=[start, end], autorange=False)
    left_unit = panel.field("").unit
    fig.update_layout(yaxis={**axis_format(left_unit), "rangemode": "tozero"}, barmode="group")
    if right:
        right_units = [panel.field(t.name).unit for t in fig.data if t.yaxis == "y2"]
        fig.update_layout(
            yaxis2={
                **axis_format(right_units[0] if right_units else None),
                "overlaying": "y",
                "side": "right",
                "showgrid": False,
                "rangemode": "tozero",
            }
        )
    return _graph(panel, fig)


def _line_mode(show_points: str, points: int) -> str:
    """Grafana's showPoints: `auto` draws points only where they are sparse enough to see."""
    if show_points == "always" or (show_points == "auto" and points <= 40):
        return "lines+markers"
    return "lines"


def _alpha(colour: str, alpha: float) -> str:
    if colour.startswith("#") and len(colour) == 7:
        r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
        return f"rgba({r}, {g}, {b}, {alpha:.2f})"
    return colour


def barchart(panel: Panel, frames: Sequence[Frame], span: TimeRange, tz: ZoneInfo | None) -> Any:
    """Grouped bars: the `xField` column on the x axis, one series per other numeric column."""
    frame = frames[0]
    x_field = panel.options.get("xField") or frame.columns[0]
    if x_field not in frame.columns or not frame.rows:
        return None
    xs = [str(v) for v in frame.column(x_field)]
    fig = go.Figure()
    for index, name in enumerate(_numeric_columns(frame, skip=[x_field])):
        config = panel.field(name)
        raw = frame.column(name)
        fig.add_trace(
            go.Bar(
                x=xs,
                y=[_float(v) for v in raw],
                name=config.display_name or name,
                marker={"color": color_for(config, index, None)},
                customdata=[format_value(v, config.unit, config.decimals) for v in raw],
                hovertemplate="%{x}: %{customdata}<extra></extra>",
                texttemplate="%{customdata}" if panel.options.get("showValue") != "never" else None,
                textposition="outside",
                cliponaxis=False,
            )
        )
    if not fig.data:
        return None
    _figure_layout(fig, panel)
    fig.update_layout(
        barmode="stack" if panel.options.get("stacking") in ("normal", "percent") else "group",
        bargap=1 - float(panel.options.get("groupWidth", 0.7)),
        yaxis=axis_format(panel.field("").unit),
    )
    return _graph(panel, fig)


def histogram(panel: Panel, frames: Sequence[Frame], span: TimeRange, tz: ZoneInfo | None) -> Any:
    """Counts per bucket of `bucketSize` from `bucketOffset`, one series per numeric column."""
    frame = frames[0]
    size = _float(panel.options.get("bucketSize"))
    offset = _float(panel.options.get("bucketOffset")) or 0.0
    fig = go.Figure()
    for index, name in enumerate(_numeric_columns(frame)):
        config = panel.field(name)
        values = [float(v) for v in frame.column(name) if v is not None]
        bins = {"start": offset, "size": size} if size else None
        fig.add_trace(
            go.Histogram(
                x=values,
                name=config.display_name or name,
                xbins=bins,
                marker={
                    "color": color_for(config, index, None),
                    "line": {"width": 1, "color": "#111217"},
                },
                opacity=0.85,
            )
        )
    if not fig.data:
        return None
    _figure_layout(fig, panel)
    fig.update_layout(
        barmode="overlay", xaxis=axis_format(panel.field("").unit), yaxis={"tickformat": "~s"}
    )
    return _graph(panel, fig)


def piechart(panel: Panel, frames: Sequence[Frame], span: TimeRange, tz: ZoneInfo | None) -> Any:
    """One slice per reduced field; a donut when `pieType` says so."""
    fields = [(n, v) for n, v in _reduce(frames[0]) if _is_number(v)]
    if not fields or not any(float(v) for _, v in fields):
        return None
    configs = [panel.field(n) for n, _ in fields]
    labels = (panel.options.get("displayLabels") or ["percent"])[0]
    fig = go.Figure(
        go.Pie(
            labels=[c.display_name or n for c, (n, _) in zip(configs, fields, strict=True)],
            values=[float(v) for _, v in fields],
            hole=0.45 if panel.options.get("pieType") == "donut" else 0,
            marker={"colors": [color_for(c, i, None) for i, c in enumerate(configs)]},
            textinfo={"percent": "percent", "name": "label", "value": "value"}.get(
                labels, "percent"
            ),
            customdata=[
                format_value(v, c.unit, c.decimals)
                for c, (_, v) in zip(configs, fields, strict=True)
            ],
            hovertemplate="%{label}: %{customdata} (%{percent})<extra></extra>",
            sort=False,
        )
    )
    _figure_layout(fig, panel)
    return _graph(panel, fig)


def bargauge(panel: Panel, frames: Sequence[Frame], span: TimeRange, tz: ZoneInfo | None) -> Any:
    """Horizontal gauges, one per reduced field, filled against the largest (or `max`)."""
    fields = [(n, v) for n, v in _reduce(frames[0]) if _is_number(v)]
    if not fields:
        return None
    configs = [panel.field(n) for n, _ in fields]
    limit = configs[0].max or max(float(v) for _, v in fields) or 1.0
    names = [c.display_name or n for c, (n, _) in zip(configs, fields, strict=True)]
    values = [float(v) for _, v in fields]
    colours = [
        _gauge_colour(c, i, v / limit) for i, (c, v) in enumerate(zip(configs, values, strict=True))
    ]
    fig = go.Figure()
    if panel.options.get("showUnfilled", True):
        fig.add_trace(
            go.Bar(
                y=names,
                x=[limit] * len(names),
                orientation="h",
                marker={"color": "rgba(204,204,220,0.08)"},
                hoverinfo="skip",
                showlegend=False,
            )
        )
    fig.add_trace(
        go.Bar(
            y=names,
            x=values,
            orientation="h",
            marker={"color": colours},
            text=[
                format_value(v, c.unit, c.decimals)
                for c, (_, v) in zip(configs, fields, strict=True)
            ],
            textposition="inside",
            insidetextanchor="end",
            hovertemplate="%{y}: %{text}<extra></extra>",
            showlegend=False,
        )
    )
    _figure_layout(fig, panel, legend=False)
    fig.update_layout(barmode="overlay", bargap=0.35, xaxis={"visible": False, "range": [0, limit]})
    fig.update_yaxes(autorange="reversed", showgrid=False)
    return _graph(panel, fig)


def _gauge_colour(config: FieldConfig, index: int, share: float) -> str:
    if config.color_mode.startswith("continuous"):
        # Grafana's continuous Blue-Purple scheme: blue for low values, purple for high.
        low, high = (0x57, 0x94, 0xF2), (0xB8, 0x77, 0xD9)
        mix = [
            round(a + (b - a) * max(0.0, min(1.0, share))) for a, b in zip(low, high, strict=True)
        ]
        return "#" + "".join(f"{c:02X}" for c in mix)
    return color_for(config, index, share)


def stat(panel: Panel, frames: Sequence[Frame], span: TimeRange, tz: ZoneInfo | None) -> Any:
    """Big values, one per reduced field, named when there are several (Grafana's `auto`)."""
    fields = [(n, v) for f in frames for n, v in _reduce(f)]
    if not fields or all(v is None for _, v in fields):
        return None
    show_names = len(fields) > 1
    items = []
    for index, (name, value) in enumerate(fields):
        config = panel.field(name)
        text = (
            config.no_value or NO_DATA
            if value is None
            else format_value(value, config.unit, config.decimals)
        )
        colour = color_for(config, index, _float(value))
        item = html.Div(
            [
                html.Div(config.display_name or name, className="stat-name")
                if show_names
                else None,
                # A long text ("a few seconds ago") gets a smaller font, as Grafana's auto size.
                html.Div(
                    text,
                    className="stat-value stat-long" if len(text) > LONG_STAT else "stat-value",
                    style={"color": colour},
                ),
            ],
            className="stat-item",
        )
        items.append(with_data(item, field=name, value="" if value is None else str(value)))
    return html.Div(items, className="stat-items")


def table(panel: Panel, frames: Sequence[Frame], span: TimeRange, tz: ZoneInfo | None) -> Any:
    """An HTML table with each column formatted by its field settings, sorted by `sortBy`."""
    frame = frames[0]
    if not frame.rows:
        return None
    rows = list(frame.rows)
    for sort in reversed(panel.options.get("sortBy") or []):
        name = sort.get("displayName")
        if name in frame.columns:
            i = list(frame.columns).index(name)
            present = [r for r in rows if r[i] is not None]
            nulls = [r for r in rows if r[i] is None]  # Grafana keeps empty cells last
            by_number = all(_is_number(r[i]) for r in present)
            present.sort(key=lambda r: (float(r[i]), "") if by_number else (0.0, str(r[i])))
            rows = (present[::-1] if sort.get("desc") else present) + nulls
    configs = [panel.field(name) for name in frame.columns]
    numeric = set(_numeric_columns(frame))
    header = html.Tr(
        [
            html.Th(c.display_name or n, className="num" if n in numeric else None)
            for c, n in zip(configs, frame.columns, strict=True)
        ]
    )
    body = [
        html.Tr(
            [
                html.Td(
                    format_value(v, c.unit, c.decimals)
                    if _is_number(v) or isinstance(v, datetime)
                    else ("" if v is None else str(v)),
                    className="num" if n in numeric else None,
                )
                for c, n, v in zip(configs, frame.columns, row, strict=True)
            ]
        )
        for row in rows
    ]
    show_header = panel.options.get("showHeader", True)
    return html.Table(
        [html.Thead(header) if show_header else None, html.Tbody(body)], className="panel-table"
    )


Renderer = Callable[[Panel, Sequence[Frame], TimeRange, ZoneInfo | None], Any]
RENDERERS: dict[str, Renderer] = {
    "timeseries": timeseries,
    "barchart": barchart,
    "histogram": histogram,
    "piechart": piechart,
    "bargauge": bargauge,
    "stat": stat,
    "table": table,
}


def render(panel: Panel, frames: Sequence[Frame], span: TimeRange, tz: ZoneInfo | None) -> html.Div:
    """Return the drawn panel, its "No data" state, or an error for a type the view lacks."""
    renderer = RENDERERS.get(panel.type)
    if renderer is None:
        return error_panel(panel, f"panel type {panel.type!r} is not supported by this view")
    if not frames or all(not f.rows for f in frames):
        return no_data_panel(panel)
    body = renderer(panel, frames, span, tz)
    return no_data_panel(panel) if body is None else _container(panel, "ok", body)
