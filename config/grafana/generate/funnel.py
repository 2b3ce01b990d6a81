"""The "Funnel and sessions" dashboard: views -> carts -> orders, how long sessions last, A/B
experiments and bot traffic."""

from __future__ import annotations

from typing import Any

from panels import (
    DEVICE_FILTER,
    EVENT_FILTERS,
    SESSION_FILTERS,
    Panel,
    barchart,
    bargauge,
    dashboard,
    histogram,
    layout,
    override,
    piechart,
    stat,
    table,
    timeseries,
)

NEWEST = "the 20,000 newest sessions started in the range (user_sessions)"


def funnel() -> list[Panel]:
    """Return the session and event funnels as bar gauges, step rates and the funnel over time."""
    return [
        bargauge(
            "Session funnel",
            "Sessions started in the range that viewed a page, added to cart and ordered "
            "(user_sessions). Follows the device filter.",
            f"""SELECT count(*) FILTER (WHERE page_views > 0) AS "1. viewed pages",
                count(*) FILTER (WHERE add_to_carts > 0) AS "2. added to cart",
                count(*) FILTER (WHERE orders > 0) AS "3. ordered"
            FROM user_sessions WHERE {SESSION_FILTERS}""",
        ),
        bargauge(
            "Event funnel",
            "Product page views, add-to-carts and purchase lines in the range (raw_events). "
            "Follows both filters.",
            f"""SELECT count(*) FILTER (WHERE event_type = 'page_view' AND product_id IS NOT NULL)
                    AS "1. product views",
                count(*) FILTER (WHERE event_type = 'add_to_cart') AS "2. add to carts",
                count(*) FILTER (WHERE event_type = 'purchase') AS "3. purchases"
            FROM raw_events WHERE {EVENT_FILTERS}""",
        ),
        stat(
            "Step conversion",
            "Between funnel steps, over sessions started in the range (user_sessions).",
            f"""SELECT count(*) FILTER (WHERE add_to_carts > 0)::float
                    / nullif(count(*) FILTER (WHERE page_views > 0), 0) AS "view to cart",
                count(*) FILTER (WHERE orders > 0)::float
                    / nullif(count(*) FILTER (WHERE add_to_carts > 0), 0) AS "cart to order",
                count(*) FILTER (WHERE orders > 0)::float
                    / nullif(count(*) FILTER (WHERE page_views > 0), 0) AS "view to order"
            FROM user_sessions WHERE {SESSION_FILTERS}""",
            "percentunit",
            1,
            size=(12, 5),
        ),
        stat(
            "Orders and revenue",
            "Orders, revenue and revenue per session, sessions started in the range "
            "(user_sessions).",
            f"""SELECT sum(orders) AS "orders", sum(revenue) AS "revenue",
                sum(revenue) / nullif(count(*), 0) AS "revenue per session"
            FROM user_sessions WHERE {SESSION_FILTERS}""",
            "currencyUSD",
            2,
            size=(12, 5),
        ),
        timeseries(
            "Funnel over time",
            "Sessions started per interval, and how many of them added to cart and ordered "
            "(user_sessions).",
            f"""SELECT $__timeGroupAlias(session_start, $__interval),
                count(*) AS "sessions",
                count(*) FILTER (WHERE add_to_carts > 0) AS "added to cart",
                count(*) FILTER (WHERE orders > 0) AS "ordered"
            FROM user_sessions WHERE {SESSION_FILTERS} GROUP BY 1 ORDER BY 1""",
            size=(24, 8),
        ),
    ]


def sessions() -> list[Panel]:
    """Return the session-length and pages-per-session histograms and the length buckets."""
    return [
        histogram(
            "Session length",
            f"Distribution of session durations (end - start) of {NEWEST}.",
            f"""SELECT duration_seconds AS "session length" FROM user_sessions
            WHERE {SESSION_FILTERS} ORDER BY session_start DESC LIMIT 20000""",
            "s",
            30,
            (12, 9),
        ),
        histogram(
            "Pages per session",
            f"Distribution of page views per session of {NEWEST}.",
            f"""SELECT page_views AS "pages per session" FROM user_sessions
            WHERE {SESSION_FILTERS} ORDER BY session_start DESC LIMIT 20000""",
            "short",
            1,
            (12, 9),
        ),
        barchart(
            "Sessions by length",
            "Sessions started in the range by duration, with their conversion (user_sessions).",
            f"""SELECT CASE WHEN duration_seconds < 30 THEN '1. under 30 s'
                    WHEN duration_seconds < 120 THEN '2. 30 s to 2 min'
                    WHEN duration_seconds < 300 THEN '3. 2 to 5 min'
                    WHEN duration_seconds < 900 THEN '4. 5 to 15 min'
                    ELSE '5. 15 min and more' END AS "length",
                count(*) AS "sessions", count(*) FILTER (WHERE converted) AS "converted"
            FROM user_sessions WHERE {SESSION_FILTERS} GROUP BY 1 ORDER BY 1""",
            "length",
            "short",
            (12, 8),
        ),
        piechart(
            "Sessions by device type",
            "Sessions started in the range, per device type (user_sessions).",
            f"""SELECT count(*) FILTER (WHERE device_type = 'desktop') AS "desktop",
                count(*) FILTER (WHERE device_type = 'mobile') AS "mobile",
                count(*) FILTER (WHERE device_type = 'tablet') AS "tablet"
            FROM user_sessions WHERE $__timeFilter(session_start) AND {DEVICE_FILTER}""",
            (12, 8),
        ),
    ]


# experiment_results_between() (db/init.sql): sessions that started in the range, whole hours.
EXPERIMENT_RESULTS = (
    "experiment_results_between($__timeFrom()::timestamptz, $__timeTo()::timestamptz)"
)


def experiments() -> list[Panel]:
    """Return the experiment panels (conversion per variant with its interval, the lift against
    control with its interval) and bot share over time."""
    percent = [
        override(name, unit="percentunit", decimals=2)
        for name in (
            "conversion", "conversion low", "conversion high", "lift", "lift low", "lift high",
        )
    ]  # fmt: skip
    return [
        table(
            "Experiment results",
            "Per experiment and variant, over the human sessions (bots left out) that started in "
            "the range (experiment_metrics, by start hour): conversion = converted sessions / "
            "sessions with its 95% interval (Wald), revenue per session, and the relative lift "
            "of conversion against the control variant (named control, else A, else the first "
            "by name) with its 95% interval (log ratio, Katz). A lift interval that holds 0 "
            "shows no significant difference. See experiment_results in docs/processor.md.",
            f"""SELECT experiment AS "experiment", variant AS "variant",
                control_variant AS "control", sessions AS "sessions",
                converted_sessions AS "converted", conversion_rate AS "conversion",
                conversion_ci_low AS "conversion low", conversion_ci_high AS "conversion high",
                revenue_per_session AS "revenue per session", lift AS "lift",
                lift_ci_low AS "lift low", lift_ci_high AS "lift high", z_score AS "z"
            FROM {EXPERIMENT_RESULTS}
            ORDER BY experiment, variant""",
            [*percent, override("revenue per session", unit="currencyUSD", decimals=2)],
            "sessions",
            (24, 7),
        ),
        barchart(
            "Conversion by variant",
            "Conversion of each variant (human sessions started in the range) with the bounds of "
            "its 95% interval (experiment_metrics).",
            f"""SELECT experiment || ' ' || variant AS "variant",
                conversion_ci_low AS "95% low", conversion_rate AS "conversion",
                conversion_ci_high AS "95% high"
            FROM {EXPERIMENT_RESULTS}
            ORDER BY experiment, variant""",
            "variant",
            "percentunit",
            (12, 8),
        ),
        timeseries(
            "Bot share",
            "Sessions started per interval, those whose user agent matches a known bot pattern "
            "(user_sessions.is_bot, processor/bots.py) and their share (right axis). The KPIs "
            "leave these sessions out. Follows the device filter.",
            f"""SELECT $__timeGroupAlias(session_start, $__interval),
                count(*) AS "sessions",
                count(*) FILTER (WHERE is_bot) AS "bot sessions",
                count(*) FILTER (WHERE is_bot)::float / count(*) AS "bot share"
            FROM user_sessions WHERE {SESSION_FILTERS} GROUP BY 1 ORDER BY 1""",
            overrides=[override("bot share", unit="percentunit", axis="right", decimals=1)],
            size=(12, 8),
        ),
    ]


def build() -> dict[str, Any]:
    """Return the "Funnel and sessions" dashboard."""
    return dashboard(
        "clickstream-funnel",
        "Funnel and sessions",
        "From page views to carts to orders, how long sessions last, A/B experiments and bots.",
        layout(
            [
                ("Funnel", funnel()),
                ("Sessions", sessions()),
                ("Experiments and bots", experiments()),
            ]
        ),
    )
