"""The browser view: a Dash app that draws the provisioned dashboards from PostgreSQL.

In: the dashboard JSON files and a read-only `Reader`. Out: pages at Grafana's own URLs
(`/d/<uid>?from=now-6h&to=now&var-device=mobile&refresh=5s`), so a Grafana link opens the same
view here and a link from here reproduces it. The URL is the view's only state: every control
writes it, and the page is drawn from it. Each panel asks for its data on its own, on load and on
every refresh tick, so one slow or broken query never holds up the others.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from dash import ALL, MATCH, Dash, Input, Output, State, ctx, dcc, html, no_update
from dash.development.base_component import Component

from viewer.macros import ALL as ALL_VALUE
from viewer.macros import ExpandError, Variable, auto_interval, expand, parse_interval
from viewer.model import Dashboard, DashboardError, Panel, load_dashboards
from viewer.panels import error_panel, loading_panel, render, with_data, zone
from viewer.query import Frame, QueryError, Reader
from viewer.timerange import QUICK_RANGES, Picker, TimeRangeError

ASSETS = Path(__file__).resolve().parent / "assets"
# In the browser: ask a panel for an answer on a view change always, on a refresh tick only when
# its previous answer has arrived (window.__viewerBusy, cleared by DONE_JS).
ASK_JS = """function(tick, view, asked, id) {
    const busy = window.__viewerBusy = window.__viewerBusy || {};
    const fired = (dash_clientside.callback_context.triggered || []).map(t => t.prop_id);
    const byTick = fired.length > 0 && fired.every(p => p.startsWith('tick.'));
    if (byTick && busy[id.key]) { return dash_clientside.no_update; }
    busy[id.key] = true;
    return (asked || 0) + 1;
}"""
DONE_JS = """function(children, id) {
    (window.__viewerBusy = window.__viewerBusy || {})[id.key] = false;
    return Date.now();
}"""
CUSTOM = "custom"
# Grafana's grid: 24 columns, rows of 30 px, 8 px between panels; panels are about this wide.
GRID_WIDTH_PX = 1800


class Dashboards:
    """The dashboard files, read again when one of them changes (as provisioning does)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._stamp: tuple[tuple[str, int], ...] = ()
        self._by_uid: dict[str, Dashboard] = {}
        self.get()

    def _files(self) -> tuple[tuple[str, int], ...]:
        return tuple((p.name, p.stat().st_mtime_ns) for p in sorted(self.directory.glob("*.json")))

    def get(self) -> dict[str, Dashboard]:
        """Return the dashboards by uid, reloaded if a file changed since the last call."""
        with self._lock:
            stamp = self._files()
            if stamp != self._stamp or not self._by_uid:
                self._by_uid = load_dashboards(self.directory)
                self._stamp = stamp
            return self._by_uid


@dataclass(frozen=True)
class View:
    """What a URL asks for: dashboard, time range, variables and refresh."""

    uid: str
    picker: Picker
    variables: Mapping[str, Sequence[str]] = field(default_factory=dict)
    refresh: str | None = None
    problems: Sequence[str] = ()

    def query_string(self) -> str:
        """Return the URL's query (`?from=...`), in Grafana's parameter names."""
        params: list[tuple[str, str]] = [("from", self.picker.start), ("to", self.picker.end)]
        for name, values in self.variables.items():
            params.extend((f"var-{name}", "All" if v == ALL_VALUE else v) for v in values)
        params.append(("refresh", self.refresh or "off"))
        return "?" + urlencode(params)


def home_uid(dashboards: Mapping[str, Dashboard], home: str | None) -> str:
    """Return the home dashboard: `home` when it exists, else the first file's."""
    return home if home is not None and home in dashboards else next(iter(dashboards))


def parse_view(
    pathname: str | None,
    search: str | None,
    dashboards: Mapping[str, Dashboard],
    home: str | None = None,
) -> View:
    """Return the view a URL asks for; unknown parts fall back to the dashboard's defaults."""
    problems: list[str] = []
    parts = [p for p in (pathname or "/").split("/") if p]
    first = home_uid(dashboards, home)
    uid = parts[1] if len(parts) >= 2 and parts[0] == "d" else first
    if uid not in dashboards:
        problems.append(f"no dashboard with uid {uid!r}; showing {first!r}")
        uid = first
    board = dashboards[uid]
    params = parse_qs((search or "").lstrip("?"), keep_blank_values=True)
    picker = Picker(
        params.get("from", [board.time_from])[-1], params.get("to", [board.time_to])[-1]
    )
    try:
        picker.resolve()
    except TimeRangeError as exc:
        problems.append(f"time range: {exc}; showing {board.time_from} to {board.time_to}")
        picker = Picker(board.time_from, board.time_to)
    variables: dict[str, list[str]] = {}
    for var in board.variables:
        chosen = [
            ALL_VALUE if v in ("All", ALL_VALUE) else v
            for v in params.get(f"var-{var['name']}", [])
        ]
        if not var.get("multi"):
            chosen = chosen[-1:]
        variables[var["name"]] = [v for v in chosen if v] or [ALL_VALUE]
    refresh = params.get("refresh", [board.refresh or "off"])[-1]
    if refresh != "off" and refresh not in board.refresh_intervals and refresh != board.refresh:
        problems.append(f"refresh {refresh!r} is not one of {', '.join(board.refresh_intervals)}")
        refresh = board.refresh or "off"
    return View(uid, picker, variables, None if refresh == "off" else refresh, problems)


def refresh_ms(refresh: str | None) -> int:
    """Return the refresh period in milliseconds (0 when off)."""
    if not refresh:
        return 0
    return max(1000, round(parse_interval(refresh) * 1000))


def _selection(previous: Sequence[str], current: Sequence[str] | str | None) -> list[str]:
    """Grafana's multi-select: picking All clears the rest, picking a value clears All."""
    values = [current] if isinstance(current, str) else list(current or [])
    if not values:
        return [ALL_VALUE]
    if ALL_VALUE in values and ALL_VALUE not in previous:
        return [ALL_VALUE]
    rest = [v for v in values if v != ALL_VALUE]
    return rest or [ALL_VALUE]


class ViewerApp:
    """Builds the Dash app and answers its callbacks."""

    def __init__(self, dashboards: Dashboards, reader: Reader, home: str | None = None) -> None:
        self.dashboards = dashboards
        self.reader = reader
        self.home = home
        self.dash = Dash(
            __name__,
            title="Clickstream dashboards",
            update_title="",
            assets_folder=str(ASSETS),
            serve_locally=True,
            suppress_callback_exceptions=True,
        )
        self.dash.layout = html.Div(
            [
                dcc.Location(id="url", refresh=False),
                dcc.Store(id="tz"),
                dcc.Store(id="view"),
                dcc.Store(id="pending"),
                dcc.Interval(id="tick", interval=3_600_000, disabled=True),
                # The view the panels should now show: browsers and tests compare the panels'
                # data-view with it to know that every panel answers for the current URL.
                html.Div(id="view-key", hidden=True),
                html.Div(id="page"),
            ],
            className="viewer",
        )
        self._callbacks()
        self.dash.server.add_url_rule("/api/health", "health", self._health)

    def _health(self) -> dict[str, str]:
        try:
            self.reader.run("SELECT 1")
            database = "ok"
        except QueryError as exc:
            database = str(exc)
        return {"database": database, "dashboards": ",".join(self.dashboards.get())}

    # -- the page -------------------------------------------------------------------------

    def _options(self, board: Dashboard) -> tuple[dict[str, list[str]], list[str]]:
        options: dict[str, list[str]] = {}
        problems: list[str] = []
        for var in board.variables:
            if var.get("type") == "query":
                try:
                    options[var["name"]] = self.reader.options(str(var.get("query", "")))
                except QueryError as exc:
                    options[var["name"]] = []
                    problems.append(f"variable ${var['name']}: {exc}")
        return options, problems

    def page(
        self, pathname: str | None, search: str | None, pending: str | None, current: Any
    ) -> tuple[Any, Any, Any, Any, Any]:
        """Draw the header and the grid of panel placeholders for the URL, with the view's state.

        When the URL is the one the controls just wrote (`pending`) for the same dashboard, the
        controls already show it: only the state changes, so an open dropdown stays open.
        """
        try:
            boards = self.dashboards.get()
        except DashboardError as exc:
            return html.Div(str(exc), className="banner error"), None, no_update, no_update, ""
        view = parse_view(pathname, search, boards, self.home)
        board = boards[view.uid]
        models = board.variable_models({})
        options, problems = self._options(board)
        controls: list[Component] = [
            html.Div(
                [
                    html.Label("Dashboard", htmlFor="dashboard"),
                    dcc.Dropdown(
                        id="dashboard",
                        options=[{"label": b.title, "value": u} for u, b in boards.items()],
                        value=view.uid,
                        clearable=False,
                        className="control-dashboard",
                    ),
                ],
                className="control",
            )
        ]
        for var in board.variables:
            name = var["name"]
            choices = options.get(name) or list(models[name].options)
            items = ([{"label": "All", "value": ALL_VALUE}] if var.get("includeAll") else []) + [
                {"label": c, "value": c} for c in choices
            ]
            known = {i["value"] for i in items}
            items += [{"label": v, "value": v} for v in view.variables[name] if v not in known]
            controls.append(
                html.Div(
                    [
                        html.Label(var.get("label") or name),
                        dcc.Dropdown(
                            id={"type": "var", "name": name},
                            options=items,
                            value=list(view.variables[name])
                            if var.get("multi")
                            else view.variables[name][0],
                            multi=bool(var.get("multi")),
                            clearable=False,
                            className=f"control-var var-{name}",
                        ),
                    ],
                    className="control",
                )
            )
        quick = (
            view.picker.start
            if view.picker.end == "now" and view.picker.start in dict(QUICK_RANGES)
            else CUSTOM
        )
        controls += [
            html.Div(
                [
                    html.Label("Time range"),
                    dcc.Dropdown(
                        id="quick-range",
                        options=[{"label": label, "value": key} for key, label in QUICK_RANGES]
                        + [{"label": "Custom range", "value": CUSTOM}],
                        value=quick,
                        clearable=False,
                        className="control-range",
                    ),
                ],
                className="control",
            ),
            html.Div(
                [
                    html.Label("From"),
                    dcc.Input(id="time-from", value=view.picker.start, className="control-from"),
                ],
                className="control",
            ),
            html.Div(
                [
                    html.Label("To"),
                    dcc.Input(id="time-to", value=view.picker.end, className="control-to"),
                ],
                className="control",
            ),
            # As in Grafana's picker: a custom range applies on the button (or Enter in a field).
            html.Button("Apply time range", id="apply-range", className="control-apply"),
            html.Div(
                [
                    html.Label("Refresh"),
                    dcc.Dropdown(
                        id="refresh",
                        options=[{"label": "Off", "value": "off"}]
                        + [{"label": r, "value": r} for r in board.refresh_intervals],
                        value=view.refresh or "off",
                        clearable=False,
                        className="control-refresh",
                    ),
                ],
                className="control",
            ),
        ]
        banners = [html.Div(p, className="banner warning") for p in (*view.problems, *problems)]
        cells = [
            html.Div(
                html.Div(row.title, className="row-title"),
                className="grid-row",
                style={"gridColumn": "1 / span 24", "gridRow": f"{row.grid.y + 1} / span 1"},
            )
            for row in board.rows
        ]
        cells += [
            html.Div(
                loading_panel(panel),
                id={"type": "panel", "key": panel.key},
                className="grid-cell",
                style={
                    "gridColumn": f"{panel.grid.x + 1} / span {panel.grid.w}",
                    "gridRow": f"{panel.grid.y + 1} / span {panel.grid.h}",
                },
            )
            for panel in board.panels
        ]
        # Per panel: `ask` counts the answers asked for, `done` marks the last one received. A
        # refresh tick asks again only when the panel's previous answer came back, so a panel
        # slower than the refresh still shows (Dash would otherwise drop each answer as stale).
        cells.append(
            html.Div(
                [dcc.Store(id={"type": "ask", "key": p.key}) for p in board.panels]
                + [dcc.Store(id={"type": "done", "key": p.key}) for p in board.panels],
                hidden=True,
            )
        )
        period = refresh_ms(view.refresh)
        state = {
            "uid": view.uid,
            "from": view.picker.start,
            "to": view.picker.end,
            "vars": {k: list(v) for k, v in view.variables.items()},
            "options": options,
            "key": f"/d/{view.uid}{view.query_string()}",
        }
        same = bool(current) and current.get("uid") == view.uid and not view.problems
        if same and pending and pending == f"{pathname}{search}":
            return no_update, state, period or 3_600_000, period == 0, state["key"]
        children = [
            html.Header(
                [html.H1(board.title, className="title"), html.Div(controls, className="controls")],
                className="topbar",
            ),
            *banners,
            with_data(html.Main(cells, className="grid"), dashboard=view.uid),
        ]
        return children, state, period or 3_600_000, period == 0, state["key"]

    def navigate(
        self, args: Sequence[Any], state: Mapping[str, Any] | None
    ) -> tuple[Any, Any, Any]:
        """Turn a control change into the URL of the new view (pathname, search, pending).

        `pending` is that URL when the controls already show exactly the new view, so the page
        need not be drawn again; otherwise None.
        """
        uid_value, quick, start, end, refresh, var_values = args
        if not state:
            return no_update, no_update, no_update
        boards = self.dashboards.get()
        trigger = ctx.triggered_id
        uid = uid_value if uid_value in boards else state["uid"]
        picker = Picker(state["from"], state["to"])
        if trigger == "quick-range" and quick != CUSTOM:
            picker = Picker(str(quick), "now")
        elif trigger in ("time-from", "time-to", "apply-range"):
            picker = Picker(
                str(start or "").strip() or picker.start, str(end or "").strip() or picker.end
            )
        names = [i["id"]["name"] for i in ctx.inputs_list[6]]
        variables = dict(state["vars"])
        shown = True
        for name, value in zip(names, var_values, strict=True):
            variables[name] = _selection(state["vars"].get(name, [ALL_VALUE]), value)
            as_list = [value] if isinstance(value, str) else list(value or [])
            shown = shown and as_list == variables[name]
        view = View(uid, picker, variables, None if refresh == "off" else refresh)
        path, search = f"/d/{uid}", view.query_string()
        if f"{path}{search}" == state.get("key"):
            return no_update, no_update, no_update  # a control re-mounted, nothing changed
        # Only a variable or the refresh changed: the controls already show the new view. Any
        # other change redraws the header (the range dropdown, the dashboard's own controls).
        shown = shown and (trigger == "refresh" or isinstance(trigger, Mapping))
        return path, search, f"{path}{search}" if shown and uid == state["uid"] else None

    # -- one panel ------------------------------------------------------------------------

    def panel(self, key: str, state: Mapping[str, Any] | None, tz_name: str | None) -> Any:
        """Query and draw one panel for the current view, marked with the view it shows."""
        drawn = self._draw(key, state, tz_name)
        if drawn is not no_update and state:
            with_data(drawn, view=str(state.get("key", "")))
        return drawn

    def _draw(self, key: str, state: Mapping[str, Any] | None, tz_name: str | None) -> Any:
        if not state:
            return no_update
        boards = self.dashboards.get()
        board = boards.get(state["uid"])
        if board is None:
            return no_update
        try:
            panel = board.panel(key)
        except KeyError:
            return no_update
        try:
            span = Picker(state["from"], state["to"]).resolve(datetime.now(UTC))
        except TimeRangeError as exc:
            return error_panel(panel, str(exc))
        models = board.variable_models(state.get("options", {}))
        variables = {
            name: _replace_selected(model, state["vars"].get(name, [ALL_VALUE]))
            for name, model in models.items()
        }
        frames: list[Frame] = []
        try:
            step = auto_interval(span, _data_points(panel), panel.interval or "5s")
            for target in panel.targets:
                raw = target.get("rawSql")
                if not raw:
                    continue
                frames.append(self.reader.run(expand(str(raw), variables, span, step)))
        except (ExpandError, QueryError) as exc:
            return error_panel(panel, str(exc))
        return render(panel, frames, span, zone(tz_name))

    def _callbacks(self) -> None:
        app = self.dash
        app.clientside_callback(  # type: ignore[no-untyped-call]  # unannotated in dash
            "function(_) { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; }",
            Output("tz", "data"),
            Input("url", "pathname"),
        )
        app.callback(
            Output("page", "children"),
            Output("view", "data"),
            Output("tick", "interval"),
            Output("tick", "disabled"),
            Output("view-key", "title"),
            Input("url", "pathname"),
            Input("url", "search"),
            State("pending", "data"),
            State("view", "data"),
        )(self.page)

        @app.callback(
            Output("url", "pathname"),
            Output("url", "search"),
            Output("pending", "data"),
            Input("dashboard", "value"),
            Input("quick-range", "value"),
            Input("time-from", "n_submit"),
            Input("time-to", "n_submit"),
            Input("apply-range", "n_clicks"),
            Input("refresh", "value"),
            Input({"type": "var", "name": ALL}, "value"),
            State("time-from", "value"),
            State("time-to", "value"),
            State("view", "data"),
            prevent_initial_call=True,
        )
        def navigate(*values: Any) -> tuple[Any, Any, Any]:
            uid, quick, _, _, _, refresh, var_values, start, end, state = values
            return self.navigate((uid, quick, start, end, refresh, var_values), state)

        app.clientside_callback(  # type: ignore[no-untyped-call]  # unannotated in dash
            ASK_JS,
            Output({"type": "ask", "key": MATCH}, "data"),
            Input("tick", "n_intervals"),
            Input("view", "data"),
            State({"type": "ask", "key": MATCH}, "data"),
            State({"type": "ask", "key": MATCH}, "id"),
        )
        app.clientside_callback(  # type: ignore[no-untyped-call]  # unannotated in dash
            DONE_JS,
            Output({"type": "done", "key": MATCH}, "data"),
            Input({"type": "panel", "key": MATCH}, "children"),
            State({"type": "panel", "key": MATCH}, "id"),
            prevent_initial_call=True,
        )

        @app.callback(
            Output({"type": "panel", "key": MATCH}, "children"),
            Input({"type": "ask", "key": MATCH}, "data"),
            State("view", "data"),
            State("tz", "data"),
            State({"type": "panel", "key": MATCH}, "id"),
        )
        def panel(
            _: int | None, state: Mapping[str, Any] | None, tz: str | None, ident: Mapping[str, str]
        ) -> Any:
            return self.panel(ident["key"], state, tz)


def _data_points(panel: Panel) -> int:
    """Grafana's maxDataPoints: the panel's setting, else its width in pixels."""
    return int(panel.max_data_points or max(100, panel.grid.w * GRID_WIDTH_PX // 24))


def _replace_selected(model: Variable, selected: Sequence[str]) -> Variable:
    return replace(model, selected=list(selected))
