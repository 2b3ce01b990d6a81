"""The "Funnel and sessions" dashboard: views -> carts -> orders, and how long sessions last."""

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
    piechart,
    stat,
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


def build() -> dict[str, Any]:
    """Return the "Funnel and sessions" dashboard."""
    return dashboard(
        "clickstream-funnel",
        "Funnel and sessions",
        "From page views to carts to orders, and how long sessions last.",
        layout([("Funnel", funnel()), ("Sessions", sessions())]),
    )
