"""Behaviour profile: `python -m producer.profile` prints what the simulator's events look like.

Generates a sample (or reads a JSON-lines file), measures funnel rates, session lengths and
durations, bounce share, device and visitor mixes with their conversion, product popularity and
the hour-of-day curve, and prints each next to its target range; `--plot F.html` also draws them
(producer.profile_plot).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from infra.env import ConfigError, load_env
from infra.version import add_version
from producer.behavior import TEXT
from producer.clock import DAY_MS, parse_instant
from producer.config import Settings
from producer.data_generator import Simulator
from producer.ledger import Tally

SAMPLE_START = "2025-01-06"  # a Monday, so a 7-day sample is one whole week
SAMPLE_EVENTS = 300_000
SAMPLE_DAYS = 7.0


@dataclass
class SessionStats:
    """What one session did."""

    events: int = 0
    page_views: int = 0
    carts: int = 0
    orders: int = 0
    device: str = ""
    returning: bool = False
    first: str = ""  # earliest and latest timestamp (RFC 3339 text sorts as time)
    last: str = ""

    def duration_s(self) -> float:
        """Seconds from the first event to the last (0 for a single event), as analytics count."""
        if self.first == self.last:
            return 0.0
        return (
            datetime.fromisoformat(self.last) - datetime.fromisoformat(self.first)
        ).total_seconds()


@dataclass
class Profile:
    """Behaviour statistics of a sample of events."""

    events: Counter[str] = field(default_factory=Counter)
    product_views: Counter[str] = field(default_factory=Counter)
    product_category: dict[str, str] = field(default_factory=dict)  # product_id -> category
    sessions: dict[str, SessionStats] = field(default_factory=dict)
    hours: Counter[int] = field(default_factory=Counter)
    weekdays: Counter[int] = field(default_factory=Counter)
    orders: set[str] = field(default_factory=set)
    inferred_visitors: bool = False

    def _within_categories(self) -> dict[str, float]:
        """Top 1% and 10% shares and the Gini of product views inside each category, averaged
        with the categories' views as weights (the head of a category of 50 products is half
        of its first product: shares of fractional product counts)."""
        groups: dict[str, list[int]] = {}
        for pid, count in self.product_views.items():
            groups.setdefault(self.product_category.get(pid, ""), []).append(count)
        total = sum(self.product_views.values()) or 1
        out = dict.fromkeys(("category_top_1pct_share", "category_top_10pct_share"), 0.0)
        out["category_product_view_gini"] = 0.0
        for counts in groups.values():
            counts.sort(reverse=True)
            w = sum(counts) / total
            out["category_top_1pct_share"] += w * head_share(counts, 0.01)
            out["category_top_10pct_share"] += w * head_share(counts, 0.10)
            out["category_product_view_gini"] += w * gini(counts)
        return out

    def rates(self) -> dict[str, float]:
        """Every statistic the profile reports, by name."""
        s = list(self.sessions.values())
        n = len(s) or 1
        lengths = sorted(x.events for x in s) or [0]
        durations = sorted(x.duration_s() for x in s) or [0.0]
        carts = [x for x in s if x.carts]
        views = sorted(self.product_views.values(), reverse=True)
        total_views = sum(views) or 1
        out = {
            "add_to_cart_per_product_view": self.events["add_to_cart"] / total_views,
            "purchase_lines_per_add_to_cart": self.events["purchase"]
            / max(1, self.events["add_to_cart"]),
            "cart_abandonment": sum(1 for x in carts if not x.orders) / max(1, len(carts)),
            "session_conversion": sum(1 for x in s if x.orders) / n,
            "bounce_share": sum(1 for x in s if x.events == 1 and x.page_views == 1) / n,
            "mean_session_events": sum(lengths) / n,
            "mean_session_duration_s": sum(durations) / n,
            "top_1pct_product_view_share": head_share(views, 0.01),
            "top_10pct_product_view_share": head_share(views, 0.10),
            "product_view_gini": gini(views),
            "single_instant_share": sum(1 for d in durations if d == 0) / n,
        }
        out.update(self._within_categories())
        for q in (50, 75, 90, 95):
            out[f"session_duration_p{q}_s"] = durations[min(len(durations) - 1, len(s) * q // 100)]
        for q in (25, 50, 75, 90, 99):
            out[f"session_events_p{q}"] = lengths[min(len(lengths) - 1, len(lengths) * q // 100)]
        for device in ("mobile", "desktop", "tablet"):
            group = [x for x in s if x.device == device]
            out[f"share_{device}"] = len(group) / n
            out[f"conversion_{device}"] = sum(1 for x in group if x.orders) / max(1, len(group))
        for name, flag in (("new", False), ("returning", True)):
            group = [x for x in s if x.returning is flag]
            out[f"share_{name}"] = len(group) / n
            out[f"conversion_{name}"] = sum(1 for x in group if x.orders) / max(1, len(group))
        out["mobile_vs_desktop_conversion"] = out["conversion_mobile"] / max(
            1e-9, out["conversion_desktop"]
        )
        out["returning_vs_new_conversion"] = out["conversion_returning"] / max(
            1e-9, out["conversion_new"]
        )
        hours = [self.hours[h] for h in range(24)]
        mean_hour = sum(hours) / 24 or 1
        out["night_trough_vs_peak"] = min(hours) / max(1, max(hours))
        for h in range(24):
            out[f"hour_{h:02d}"] = hours[h] / mean_hour
        weekday = sum(self.weekdays[d] for d in range(5)) / 5
        weekend = sum(self.weekdays[d] for d in (5, 6)) / 2
        out["weekend_vs_weekday"] = weekend / weekday if weekday else 0.0
        return out


def head_share(counts: list[int], q: float) -> float:
    """The share of the total held by the top `q` of `counts` (sorted, largest first), counting
    a fraction of the next one when q * len is not whole."""
    k = q * len(counts)
    whole = int(k)
    head = sum(counts[:whole]) + (counts[whole] * (k - whole) if whole < len(counts) else 0)
    return head / (sum(counts) or 1)


def gini(counts: list[int]) -> float:
    """The Gini coefficient of `counts` (any order): 0 all equal, towards 1 all on one."""
    xs = sorted(counts)
    n, total = len(xs), sum(xs)
    if n < 2 or not total:
        return 0.0
    return sum((2 * i - n + 1) * x for i, x in enumerate(xs)) / (n * total)


def measure(events: Iterable[dict[str, Any]], returning: dict[str, bool] | None) -> Profile:
    """Profile parsed events; `returning` maps session_id to visitor type when it is known."""
    p = Profile(inferred_visitors=returning is None)
    seen_users: set[str] = set()
    weekdays: dict[str, int] = {}
    for e in events:
        sid = e["session_id"]
        stats = p.sessions.get(sid)
        if stats is None:
            stats = p.sessions[sid] = SessionStats(device=e["device_type"])
            if returning is None:
                stats.returning = e["user_id"] in seen_users
                seen_users.add(e["user_id"])
            else:
                stats.returning = returning.get(sid, False)
        kind = e["event_type"]
        p.events[kind] += 1
        stats.events += 1
        if kind == "page_view":
            stats.page_views += 1
            if e.get("product_id"):
                p.product_views[e["product_id"]] += 1
                p.product_category[e["product_id"]] = e.get("category") or ""
        elif kind == "add_to_cart":
            stats.carts += 1
        elif e["order_id"] not in p.orders:
            p.orders.add(e["order_id"])
            stats.orders += 1
        ts = e["timestamp"]
        if not stats.first or ts < stats.first:
            stats.first = ts
        if ts > stats.last:
            stats.last = ts
        p.hours[int(ts[11:13])] += 1
        weekday = weekdays.get(ts[:10])
        if weekday is None:
            weekday = weekdays[ts[:10]] = (parse_instant(ts[:10]) // DAY_MS + 3) % 7
        p.weekdays[weekday] += 1
    return p


def generate(settings: Settings) -> tuple[Iterator[dict[str, Any]], dict[str, bool]]:
    """A backfill sample from settings (events/days/start default to a week of 300k events)."""
    stream, visitors, _, _ = sample(settings)
    return stream, visitors


def sample(
    settings: Settings,
) -> tuple[Iterator[dict[str, Any]], dict[str, bool], Simulator, Tally]:
    """The sample's events, visitor types, its simulator (with the scenarios' plan) and the
    tally the scenarios' ledger truth is counted from (filled as the events are read)."""
    run = settings.run
    events = run.events or SAMPLE_EVENTS
    days = run.days or SAMPLE_DAYS
    start = run.start_ms if run.start_ms is not None else parse_instant(SAMPLE_START)
    traffic = replace(settings.traffic, rate=events / (days * 86400) * 1.02)
    sim = Simulator(
        settings.behavior, traffic, run.seed or 0, start, None, events, scenarios=run.scenarios
    )
    visitors: dict[str, bool] = {}
    sim.model.observer = visitors
    tally = Tally()

    def stream() -> Iterator[dict[str, Any]]:
        for window in sim.windows():
            tally.add(window)
            for e in window:
                yield json.loads(e[TEXT])

    return stream(), visitors, sim, tally


TARGETS: tuple[tuple[str, str, float, float, str], ...] = (
    ("add_to_cart_per_product_view", "add-to-cart / product views", 0.03, 0.05, "%"),
    ("purchase_lines_per_add_to_cart", "purchase lines / add-to-carts", 0.25, 0.35, "%"),
    ("cart_abandonment", "cart sessions abandoned", 0.62, 0.78, "%"),
    ("session_conversion", "sessions with an order", 0.01, 0.03, "%"),
    ("session_events_p50", "session length median (events)", 2, 3, ""),
    ("session_events_p90", "session length p90", 5, 30, ""),
    ("session_events_p99", "session length p99 (long tail)", 15, 200, ""),
    ("mean_session_duration_s", "session duration mean", 60, 240, "s"),
    ("session_duration_p50_s", "session duration median (Coveo 22 s)", 15, 30, "s"),
    ("session_duration_p75_s", "session duration p75 (Coveo 174 s)", 130, 220, "s"),
    ("session_duration_p90_s", "session duration p90 (Coveo 618 s)", 480, 780, "s"),
    ("session_duration_p95_s", "session duration p95 (Coveo 1,134 s)", 850, 1400, "s"),
    ("single_instant_share", "single-instant sessions (Coveo 40%+)", 0.40, 0.55, "%"),
    ("bounce_share", "single-page bounce share", 0.30, 0.55, "%"),
    ("share_mobile", "mobile share of sessions", 0.60, 0.75, "%"),
    ("mobile_vs_desktop_conversion", "mobile / desktop conversion", 0.35, 0.65, "x"),
    ("returning_vs_new_conversion", "returning / new conversion", 2.0, 3.0, "x"),
    ("top_1pct_product_view_share", "top 1% products' views (Coveo 34.7%)", 0.30, 0.40, "%"),
    ("top_10pct_product_view_share", "top 10% products' views (Coveo 81.7%)", 0.76, 0.87, "%"),
    ("product_view_gini", "Gini of product views (Coveo 0.885)", 0.85, 0.92, "gini"),
    ("category_top_1pct_share", "in a category: top 1%'s views", 0.15, 0.40, "%"),
    ("category_top_10pct_share", "in a category: top 10%'s views", 0.76, 0.87, "%"),
    ("category_product_view_gini", "in a category: Gini of views", 0.83, 0.92, "gini"),
    ("night_trough_vs_peak", "quietest hour / busiest hour", 0.0, 0.35, "x"),
    ("weekend_vs_weekday", "weekend day / weekday events", 0.0, 0.97, "x"),
)


def report_lines(p: Profile) -> list[str]:
    """The profile as printable lines: each statistic, its target and ok/OFF."""
    r = p.rates()
    lines = [f"{'statistic':<38} {'value':>9}   {'target':<14}"]
    for key, label, low, high, unit in TARGETS:
        value = r[key]
        if unit == "%":
            shown, target = f"{value:.1%}", f"{low:.0%}-{high:.0%}"
        elif unit == "s":
            shown, target = f"{value:.0f} s", f"{low:g}-{high:g} s"
        elif unit == "x":
            shown, target = f"{value:.2f}", f"{low:g}-{high:g}"
        elif unit == "gini":
            shown, target = f"{value:.3f}", f"{low:g}-{high:g}"
        else:
            shown, target = f"{value:g}", f"{low:g}-{high:g}"
        verdict = "ok" if low <= value <= high else "OFF"
        lines.append(f"{label:<38} {shown:>9}   {target:<14} {verdict}")
    lines.append(
        "conversion by device: "
        + ", ".join(f"{d} {r[f'conversion_{d}']:.2%}" for d in ("mobile", "desktop", "tablet"))
        + f"; new {r['conversion_new']:.2%} ({r['share_new']:.0%} of sessions), "
        f"returning {r['conversion_returning']:.2%}"
        + (" (visitor type inferred from first appearance)" if p.inferred_visitors else "")
    )
    lines.append(
        "session length quantiles p25/p50/p75/p90/p99: "
        + "/".join(str(r[f"session_events_p{q}"]) for q in (25, 50, 75, 90, 99))
        + f", mean {r['mean_session_events']:.2f}"
    )
    bars = " ▁▂▃▄▅▆▇█"
    peak = max(r[f"hour_{h:02d}"] for h in range(24)) or 1
    curve = "".join(bars[round(r[f"hour_{h:02d}"] / peak * 8)] for h in range(24))
    lines.append(f"events by UTC hour 00-23 (relative to peak): |{curve}|")
    lines.append(
        "  "
        + " ".join(f"{h:02d}:{r[f'hour_{h:02d}']:.2f}" for h in range(0, 24, 3))
        + "  (1.00 = hourly mean)"
    )
    return lines


def profile_json(p: Profile, origin: str, scenarios: list[dict[str, Any]] | None = None) -> str:
    """The profile as one JSON object (`--json`): counts, every rate, each target and whether
    the sample lies in it, and with scenarios their configured and realised figures."""
    rates = p.rates()
    targets = {
        key: {"label": label, "low": low, "high": high, "value": rates[key],
              "in_range": low <= rates[key] <= high}
        for key, label, low, high, _ in TARGETS
        if key in rates
    }  # fmt: skip
    return json.dumps(
        {
            "source": origin,
            "events": sum(p.events.values()),
            "sessions": len(p.sessions),
            "orders": len(p.orders),
            "rates": rates,
            "targets": targets,
            **({"scenarios": scenarios} if scenarios else {}),
        }
    )


def scenario_figures(
    events: list[dict[str, Any]], sim: Simulator, settings: Settings
) -> tuple[list[str], list[dict[str, Any]]]:
    """Each scenario's configured figures next to the sample's (producer.scenario_profile)."""
    if sim.plan is None:
        return [], []
    from producer import scenario_profile

    run = settings.run
    start = run.start_ms if run.start_ms is not None else parse_instant(SAMPLE_START)
    end = start + int((run.days or SAMPLE_DAYS) * DAY_MS)
    found = scenario_profile.rows(
        scenario_profile.Sample(events, start, end), sim.plan, sim.catalog
    )
    return scenario_profile.report_lines(found, sim.plan), scenario_profile.as_json(found, sim.plan)


def print_profile(
    settings: Settings, source: str | None = None, plot: str | None = None, as_json: bool = False
) -> int:
    """Generate (or read) a sample, print the profile (and draw it into `plot`); exit code."""
    if source:
        with open(source, encoding="utf-8") as f:
            events = [json.loads(line) for line in f if line.strip()]
        p = measure(events, None)
        origin = f"read from {source}"
        scenario_lines: list[str] = []
        scenario_json: list[dict[str, Any]] = []
    else:
        stream, visitors, sim, _ = sample(settings)
        events = list(stream)
        p = measure(events, visitors)
        origin = f"generated with seed {settings.run.seed}"
        scenario_lines, scenario_json = scenario_figures(events, sim, settings)
    if as_json:
        print(profile_json(p, origin, scenario_json))
    else:
        print(
            f"behaviour profile: {sum(p.events.values()):,} events, {len(p.sessions):,} "
            f"sessions, {len(p.orders):,} orders ({origin})"
        )
        for line in report_lines(p) + scenario_lines:
            print(line)
    if plot:
        from producer.profile_plot import PlotError, write_plot  # plotly loads only for --plot

        try:
            size = write_plot(p, origin, plot)
        except PlotError as exc:
            print(f"profile: {exc}", file=sys.stderr)
            return 1
        print(
            f"plot: {plot} ({size / 1e6:.1f} MB of HTML with plotly.js inside, opens offline)",
            file=sys.stderr if as_json else sys.stdout,
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m producer.profile [--events N] [--days D] [--seed S] [--config F] [--input F]
    [--plot F.html] [--scenario NAME[:key=value,...]]...`."""
    from producer import cli

    ap = argparse.ArgumentParser(
        prog="python -m producer.profile",
        description="Print behaviour statistics of the simulator next to their target ranges.",
    )
    add_version(ap)
    ap.add_argument("--input", help="profile this JSON-lines file instead of generating")
    ap.add_argument("--events", type=int, help=f"sample size (default {SAMPLE_EVENTS:,})")
    ap.add_argument("--days", type=float, help=f"simulated days (default {SAMPLE_DAYS:g})")
    ap.add_argument("--start", help=f"first simulated day (default {SAMPLE_START}, a Monday)")
    ap.add_argument("--seed", type=int, help="default 1")
    ap.add_argument("--config", help="behaviour config file, as for the producer")
    ap.add_argument(
        "--scenario",
        action="append",
        default=[],
        metavar="NAME[:key=value,...]",
        help="run the sample with a scenario, as for the producer (repeatable), and print its "
        "configured figures next to the realised ones",
    )
    ap.add_argument(
        "--plot",
        metavar="PATH",
        help="also draw the profile next to the real-shop ranges: a self-contained .html file",
    )
    ap.add_argument(
        "--json", action="store_true", help="print the profile as one JSON object, for CI"
    )
    args = ap.parse_args(argv)
    if args.input and not Path(args.input).is_file():
        print(f"profile: {args.input} does not exist", file=sys.stderr)
        return 2
    if args.plot:
        from producer.profile_plot import PlotError, check_path

        try:
            check_path(args.plot)  # before the sample is made, not after
        except PlotError as exc:
            print(f"profile: {exc}", file=sys.stderr)
            return 2
    try:
        flags = cli.parser().parse_args(
            ["--mode", "backfill", "--seed", str(args.seed if args.seed is not None else 1)]
            + (["--config", args.config] if args.config else [])
            + (["--events", str(args.events)] if args.events else [])
            + (["--days", str(args.days)] if args.days else [])
            + (["--start", args.start] if args.start else [])
            + [arg for spec in args.scenario for arg in ("--scenario", spec)]
        )
        settings = cli.build_settings(flags, load_env(), default_seed=1)
    except ConfigError as exc:
        print(f"profile: configuration error: {exc}", file=sys.stderr)
        return 2
    return print_profile(settings, args.input, args.plot, args.json)


if __name__ == "__main__":
    sys.exit(main())
