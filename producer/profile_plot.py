"""The behaviour profile as a picture: `python -m producer.profile --plot profile.html`.

In: a measured `Profile` (producer.profile). Out: one plotly figure with the hour-of-day and
day-of-week curves, the funnel, session length and duration histograms and the popularity
curve, each drawn over the real-shop ranges of `producer.profile.TARGETS` (green), written as
one self-contained HTML file: plotly.js is inside, so it opens offline, with no CDN.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from producer.profile import TARGETS, Profile

SUFFIXES = (".html", ".htm")
TITLES = (
    "Events by hour of day (UTC, 1 = hourly mean)",
    "Events by day of week (1 = weekday mean)",
    "Funnel: events by step",
    "Shares against real-shop ranges",
    "Session length (events)",
    "Session duration (first to last event)",
    "Popularity: share of views against share of products",
    "Ratios against real-shop ranges",
)
SAMPLE, WEEKEND, BAND, RANGE = "#1f77b4", "#7f9fbf", "rgba(44, 160, 44, 0.16)", "#2ca02c"
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
LENGTH_CAP = 60  # longer sessions go in the last bar
DURATION_BIN_S, DURATION_BINS = 30, 60  # 30 s bins up to 30 min; longer ones go in the last
# Bands go below the bars, and are drawn although they are added before a panel's first trace.
BAND_STYLE: dict[str, Any] = {
    "fillcolor": BAND, "line_width": 0, "layer": "below", "exclude_empty_subplots": False
}  # fmt: skip
LIMITS = {key: (label, low, high) for key, label, low, high, _ in TARGETS}


class PlotError(Exception):
    """The plot cannot be written where asked; the message says why and what to do."""


def check_path(path: str) -> Path:
    """Before any work: an .html file in a directory that exists and can be written."""
    file = Path(path)
    example = "for example --plot /tmp/profile.html"
    if file.suffix.lower() not in SUFFIXES:
        raise PlotError(
            f"--plot {path}: only HTML (.html) is written; a PNG needs kaleido and a Chrome, "
            f"which are not installed; {example}"
        )
    folder = file.parent
    if not folder.exists():
        raise PlotError(f"--plot {path}: the directory {folder} does not exist; {example}")
    if not folder.is_dir():
        raise PlotError(f"--plot {path}: {folder} is not a directory; {example}")
    if file.is_dir():
        raise PlotError(f"--plot {path} is a directory; {example}")
    if not os.access(folder, os.W_OK) or (file.exists() and not os.access(file, os.W_OK)):
        raise PlotError(f"--plot {path}: {folder} is not writable; {example}")
    return file


def write_plot(profile: Profile, origin: str, path: str) -> int:
    """Write the figure as self-contained HTML; return its size in bytes."""
    file = check_path(path)
    try:
        figure(profile, origin).write_html(file, include_plotlyjs=True, full_html=True)
    except OSError as exc:
        raise PlotError(f"cannot write the plot {path}: {exc.strerror or exc}") from None
    return file.stat().st_size


def figure(profile: Profile, origin: str) -> Any:
    """The whole picture: eight panels, each with the ranges its figures are tuned to."""
    r = profile.rates()
    fig = make_subplots(
        rows=4, cols=2, subplot_titles=TITLES, vertical_spacing=0.07, horizontal_spacing=0.16
    )
    _hours(fig, r)
    _weekdays(fig, profile)
    _funnel(fig, profile)
    _ranges(fig, r, "%", row=2, col=2)
    _lengths(fig, profile, r)
    _durations(fig, profile, r)
    _popularity(fig, profile)
    _ranges(fig, r, "x", row=4, col=2)
    events = sum(profile.events.values())
    fig.update_layout(
        title=(
            f"Behaviour profile: {events:,} events, {len(profile.sessions):,} sessions, "
            f"{len(profile.orders):,} orders ({origin}); green: what real shops show"
        ),
        template="plotly_white",
        height=1900,
        barmode="overlay",
        showlegend=False,
        margin={"t": 110},
    )
    return fig


def _band_note(fig: Any, text: str, row: int, col: int, left: bool = False) -> None:
    """Say in the panel's top corner what its green band or bars are."""
    fig.add_annotation(
        text=text, xref="x domain", yref="y domain", x=0.01 if left else 0.99, y=1.0,
        showarrow=False, xanchor="left" if left else "right", yanchor="top",
        font={"color": RANGE, "size": 11}, bgcolor="rgba(255, 255, 255, 0.7)", row=row, col=col,
    )  # fmt: skip


def _hours(fig: Any, r: dict[str, float]) -> None:
    hours = [r[f"hour_{h:02d}"] for h in range(24)]
    _, _, high = LIMITS["night_trough_vs_peak"]
    fig.add_hrect(y0=0, y1=high * max(hours), row=1, col=1, **BAND_STYLE)
    fig.add_trace(go.Bar(x=list(range(24)), y=hours, name="events", marker_color=SAMPLE), 1, 1)
    ratio = r["night_trough_vs_peak"]
    _band_note(
        fig, f"real shops: quietest hour ≤ {high:g} × busiest (here {ratio:.2f})", 1, 1, left=True
    )
    fig.update_xaxes(title_text="hour (UTC)", dtick=3, row=1, col=1)


def _weekdays(fig: Any, profile: Profile) -> None:
    counts = [profile.weekdays[d] for d in range(7)]
    weekday = sum(counts[:5]) / 5 or 1
    _, _, high = LIMITS["weekend_vs_weekday"]
    fig.add_shape(type="rect", x0=4.5, x1=6.5, y0=0, y1=high, row=1, col=2, **BAND_STYLE)
    fig.add_trace(
        go.Bar(
            x=list(range(7)),
            y=[c / weekday for c in counts],
            name="events",
            marker_color=[SAMPLE] * 5 + [WEEKEND] * 2,
        ),
        1,
        2,
    )
    _band_note(fig, f"real shops: weekend days < {high:g} × weekdays", 1, 2)
    fig.update_xaxes(tickvals=list(range(7)), ticktext=list(DAYS), row=1, col=2)


def _funnel(fig: Any, profile: Profile) -> None:
    e = profile.events
    views = sum(profile.product_views.values())
    _, low, high = LIMITS["add_to_cart_per_product_view"]
    _, low2, high2 = LIMITS["purchase_lines_per_add_to_cart"]
    steps = {
        "page views": e["page_view"],
        "product views": views,
        f"add to cart<br>(real shops {low:.0%}–{high:.0%} of product views)": e["add_to_cart"],
        f"purchase lines<br>(real shops {low2:.0%}–{high2:.0%} of adds)": e["purchase"],
    }
    fig.add_trace(
        go.Funnel(
            y=list(steps),
            x=list(steps.values()),
            name="funnel",
            textinfo="value+percent previous",
            marker_color=SAMPLE,
        ),
        2,
        1,
    )


def _ranges(fig: Any, r: dict[str, float], unit: str, row: int, col: int) -> None:
    """One row per target of this unit: the real-shop range as a green bar, the sample a dot."""
    rows = [(label, low, high, r[key]) for key, label, low, high, u in TARGETS if u == unit]
    labels = [label for label, *_ in rows]
    fig.add_trace(
        go.Bar(
            y=labels,
            x=[high - low for _, low, high, _ in rows],
            base=[low for _, low, _, _ in rows],
            orientation="h",
            name="real-shop range",
            marker_color=BAND,
            marker_line={"color": RANGE, "width": 1},
        ),
        row,
        col,
    )
    shown = [f"{v:.1%}" if unit == "%" else f"{v:.2f}" for *_, v in rows]
    fig.add_trace(
        go.Scatter(
            y=labels,
            x=[v for *_, v in rows],
            text=shown,
            mode="markers+text",
            textposition="top center",
            name="this sample",
            marker={"color": SAMPLE, "size": 10},
        ),
        row,
        col,
    )
    fig.update_yaxes(autorange="reversed", row=row, col=col)
    fig.update_xaxes(
        tickformat=".0%" if unit == "%" else None, rangemode="tozero", row=row, col=col
    )


def _lengths(fig: Any, profile: Profile, r: dict[str, float]) -> None:
    counts = Counter(min(s.events, LENGTH_CAP) for s in profile.sessions.values())
    x = list(range(1, LENGTH_CAP + 1))
    fig.add_trace(go.Bar(x=x, y=[counts[n] for n in x], name="sessions", marker_color=SAMPLE), 3, 1)
    notes = []
    for key in ("session_events_p50", "session_events_p90"):
        label, low, high = LIMITS[key]
        fig.add_vrect(x0=low - 0.5, x1=high + 0.5, row=3, col=1, **BAND_STYLE)
        notes.append(
            f"{label.split('(')[0].replace('session length ', '').strip()} {low:g}–{high:g}"
        )
    _band_note(fig, f"real shops: {', '.join(notes)}", 3, 1)
    for q in (50, 90, 99):
        value = r[f"session_events_p{q}"]
        fig.add_vline(
            x=value, line_dash="dot", line_color="#555", row=3, col=1,
            annotation_text=f"p{q} {value:g}", annotation_position="top right",
            annotation_yshift=-16,
        )  # fmt: skip
    fig.update_xaxes(
        title_text=f"events in the session (the last bar: {LENGTH_CAP} and more)", row=3, col=1
    )
    fig.update_yaxes(title_text="sessions", type="log", row=3, col=1)


def _durations(fig: Any, profile: Profile, r: dict[str, float]) -> None:
    bins = Counter(
        min(int(s.duration_s() // DURATION_BIN_S), DURATION_BINS) for s in profile.sessions.values()
    )
    width = DURATION_BIN_S / 60
    x = [(i + 0.5) * width for i in range(DURATION_BINS + 1)]
    _, low, high = LIMITS["mean_session_duration_s"]
    fig.add_vrect(x0=low / 60, x1=high / 60, row=3, col=2, **BAND_STYLE)
    _band_note(fig, f"real shops: mean {low / 60:g}–{high / 60:g} min (bounces count 0 s)", 3, 2)
    fig.add_trace(
        go.Bar(
            x=x,
            y=[bins[i] for i in range(DURATION_BINS + 1)],
            width=width,
            name="sessions",
            marker_color=SAMPLE,
        ),
        3,
        2,
    )
    mean = r["mean_session_duration_s"] / 60
    fig.add_vline(
        x=mean, line_dash="dot", line_color="#555", row=3, col=2,
        annotation_text=f"mean {mean:.1f} min", annotation_position="top right",
        annotation_yshift=-16,
    )  # fmt: skip
    last = DURATION_BINS * DURATION_BIN_S // 60
    fig.update_xaxes(title_text=f"minutes (the last bar: {last} min and more)", row=3, col=2)
    fig.update_yaxes(title_text="sessions", type="log", row=3, col=2)


def _popularity(fig: Any, profile: Profile) -> None:
    views = sorted(profile.product_views.values(), reverse=True)
    total, n = sum(views) or 1, len(views) or 1
    share, running = [], 0
    for v in views:
        running += v
        share.append(running / total)
    x = [(i + 1) / n for i in range(len(views))]
    fig.add_trace(go.Scatter(x=x, y=x, name="no skew", mode="lines",
                             line={"dash": "dot", "color": "#999"}), 4, 1)  # fmt: skip
    points = [("top_1pct_product_view_share", 0.01), ("top_10pct_product_view_share", 0.10)]
    ranges = [LIMITS[key][1:] for key, _ in points]
    fig.add_trace(
        go.Scatter(
            x=[at for _, at in points],
            y=[(low + high) / 2 for low, high in ranges],
            error_y={"type": "data", "array": [(high - low) / 2 for low, high in ranges],
                     "color": RANGE, "thickness": 8, "width": 0},
            mode="markers",
            marker={"color": RANGE, "size": 1},
            name="real-shop range",
            hovertext=[f"real shops: top {at:.0%} of products get {low:.0%}–{high:.0%} of views"
                       for (_, at), (low, high) in zip(points, ranges, strict=True)],
        ),
        4,
        1,
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(x=x, y=share, name="views", mode="lines", line={"color": SAMPLE}), 4, 1
    )
    (low1, high1), (low10, high10) = ranges
    _band_note(
        fig,
        f"real shops: top 1% get {low1:.0%}–{high1:.0%} of views, "
        f"top 10% get {low10:.0%}–{high10:.0%}",
        4,
        1,
    )
    fig.update_xaxes(title_text="share of products, most viewed first", type="log",
                     tickformat=".1%", row=4, col=1)  # fmt: skip
    fig.update_yaxes(title_text="share of product views", tickformat=".0%", row=4, col=1)
