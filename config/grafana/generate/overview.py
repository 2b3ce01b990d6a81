"""The "Clickstream overview" dashboard: KPIs, traffic, behaviour, products, pipeline health."""

from __future__ import annotations

from typing import Any

from panels import (
    CATEGORY_FILTER,
    EVENT_FILTERS,
    HOURS_IN_RANGE,
    SESSION_FILTERS,
    Panel,
    barchart,
    dashboard,
    kpi,
    layout,
    override,
    stat,
    table,
    timeseries,
)

SMALL = (3, 4)  # eight stat panels per row


def live_kpis() -> list[Panel]:
    """Return the KPIs the processor keeps in dashboard_metrics, newest event time as 'now'."""
    names = [
        "events_last_minute", "active_users_5m", "active_sessions_5m", "conversion_rate_1h",
        "revenue_1h", "orders_1h", "avg_order_value_1h", "cart_abandonment_rate_1h",
    ]  # fmt: skip
    return [kpi(name, SMALL) for name in names]


def business() -> list[Panel]:
    """Return hourly traffic, revenue, order value and real-time conversion over the range."""
    return [
        timeseries(
            "Traffic by event type",
            "Valid events per interval and type (raw_events). Follows both filters.",
            f"""SELECT $__timeGroupAlias(event_time, $__interval),
                count(*) FILTER (WHERE event_type = 'page_view') AS "page views",
                count(*) FILTER (WHERE event_type = 'add_to_cart') AS "add to carts",
                count(*) FILTER (WHERE event_type = 'purchase') AS "purchases"
            FROM raw_events WHERE {EVENT_FILTERS} GROUP BY 1 ORDER BY 1""",
        ),
        timeseries(
            "Active users",
            "Distinct users and sessions with an event, per interval (raw_events). Follows both "
            "filters.",
            f"""SELECT $__timeGroupAlias(event_time, $__interval),
                count(DISTINCT user_id) AS "active users",
                count(DISTINCT session_id) AS "active sessions"
            FROM raw_events WHERE {EVENT_FILTERS} GROUP BY 1 ORDER BY 1""",
        ),
        timeseries(
            "Hourly traffic",
            "Events, page views, unique users and sessions per hour (hourly_metrics, all devices).",
            f"""SELECT window_start AS "time", events, page_views AS "page views",
                unique_users AS "unique users", unique_sessions AS "unique sessions"
            FROM hourly_metrics WHERE {HOURS_IN_RANGE} ORDER BY 1""",
            bars=True,
        ),
        timeseries(
            "Revenue and orders per hour",
            "Revenue (left axis) and orders (right axis) per hour (hourly_metrics).",
            f"""SELECT window_start AS "time", revenue, orders
            FROM hourly_metrics WHERE {HOURS_IN_RANGE} ORDER BY 1""",
            unit="currencyUSD",
            overrides=[override("orders", unit="short", axis="right")],
            bars=True,
        ),
        timeseries(
            "Conversion and average order value per hour",
            "Orders / unique sessions (left) and revenue / orders (right) per hour "
            "(hourly_metrics).",
            f"""SELECT window_start AS "time", conversion_rate AS "session conversion",
                avg_order_value AS "average order value"
            FROM hourly_metrics WHERE {HOURS_IN_RANGE} ORDER BY 1""",
            unit="percentunit",
            overrides=[override("average order value", unit="currencyUSD", axis="right")],
        ),
        timeseries(
            "Real-time session conversion",
            "Of the sessions started in each interval, the share that ordered and the share that "
            "abandoned a cart (user_sessions). Follows the device filter.",
            f"""SELECT $__timeGroupAlias(session_start, $__interval),
                avg(converted::int) AS "converted",
                avg(cart_abandoned::int) AS "abandoned a cart"
            FROM user_sessions WHERE {SESSION_FILTERS} GROUP BY 1 ORDER BY 1""",
            unit="percentunit",
        ),
    ]


def _session_stat(title: str, description: str, expression: str, unit: str, dec: int) -> Panel:
    sql = f'SELECT {expression} AS "{title}" FROM user_sessions WHERE {SESSION_FILTERS}'
    return stat(
        title, f"{description} (user_sessions, sessions started in the range).", sql, unit, dec
    )


def behaviour() -> list[Panel]:
    """Return session duration, pages per session, abandonment and both conversions."""
    rates = ("conversion", "cart abandonment", "bounce rate")
    return [
        _session_stat(
            "Avg session duration", "Mean of end - start", "avg(duration_seconds)", "s", 0
        ),
        _session_stat("Pages per session", "Mean page views", "avg(page_views)", "short", 2),
        _session_stat(
            "Session conversion",
            "Sessions with an order / sessions",
            "avg(converted::int)",
            "percentunit",
            1,
        ),
        stat(
            "Page view to purchase",
            "Purchase lines / page views (raw_events). Follows both filters.",
            f"""SELECT count(*) FILTER (WHERE event_type = 'purchase')::float
                / nullif(count(*) FILTER (WHERE event_type = 'page_view'), 0)
                AS "page-view conversion"
            FROM raw_events WHERE {EVENT_FILTERS}""",
            "percentunit",
            2,
        ),
        _session_stat(
            "Cart abandonment",
            "Sessions with an add-to-cart and no order / sessions with an add-to-cart",
            "sum(cart_abandoned::int)::float / nullif(sum((add_to_carts > 0)::int), 0)",
            "percentunit",
            1,
        ),
        _session_stat(
            "Bounce rate",
            "Sessions of one page view / sessions",
            "avg(is_bounce::int)",
            "percentunit",
            1,
        ),
        timeseries(
            "Session duration and pages per session",
            "Mean duration (left) and page views (right) of the sessions started in each "
            "interval (user_sessions).",
            f"""SELECT $__timeGroupAlias(session_start, $__interval),
                avg(duration_seconds) AS "session duration",
                avg(page_views) AS "pages per session"
            FROM user_sessions WHERE {SESSION_FILTERS} GROUP BY 1 ORDER BY 1""",
            unit="s",
            overrides=[override("pages per session", unit="short", axis="right")],
        ),
        table(
            "Behaviour by device type",
            "Sessions started in the range, per device type (user_sessions).",
            f"""SELECT device_type AS "device", count(*) AS "sessions",
                avg(duration_seconds) AS "avg duration", avg(page_views) AS "pages per session",
                avg(converted::int) AS "conversion",
                sum(cart_abandoned::int)::float / nullif(sum((add_to_carts > 0)::int), 0)
                    AS "cart abandonment",
                avg(is_bounce::int) AS "bounce rate", sum(revenue) AS "revenue"
            FROM user_sessions WHERE {SESSION_FILTERS} GROUP BY device_type""",
            [
                override("avg duration", unit="s", decimals=0),
                override("pages per session", decimals=2),
                *[override(c, unit="percentunit", decimals=1) for c in rates],
                override("revenue", unit="currencyUSD", decimals=0),
            ],
            sort_by="sessions",
        ),
    ]


def products() -> list[Panel]:
    """Return the top-products table with rates, and revenue by category."""
    return [
        table(
            "Top products",
            "The 20 products with the most revenue in the range, with views, add-to-carts and "
            "rates (product_metrics). Follows the category filter.",
            f"""SELECT product_id::text AS "product", max(category) AS "category",
                sum(views) AS "views", sum(add_to_carts) AS "add to carts",
                sum(purchases) AS "purchases", sum(units_sold) AS "units sold",
                sum(revenue) AS "revenue",
                sum(add_to_carts)::float / nullif(sum(views), 0) AS "add-to-cart rate",
                sum(purchases)::float / nullif(sum(views), 0) AS "conversion rate"
            FROM product_metrics WHERE {HOURS_IN_RANGE} AND {CATEGORY_FILTER}
            GROUP BY product_id ORDER BY sum(revenue) DESC, sum(views) DESC LIMIT 20""",
            [
                override("revenue", unit="currencyUSD", decimals=2),
                override("add-to-cart rate", unit="percentunit", decimals=1),
                override("conversion rate", unit="percentunit", decimals=1),
            ],
            sort_by="revenue",
            size=(16, 10),
        ),
        barchart(
            "Revenue by category",
            "Revenue per product category in the range (product_metrics).",
            f"""SELECT coalesce(category, 'none') AS "category", sum(revenue) AS "revenue"
            FROM product_metrics WHERE {HOURS_IN_RANGE} AND {CATEGORY_FILTER}
            GROUP BY 1 ORDER BY 2 DESC""",
            "category",
            "currencyUSD",
            (8, 10),
        ),
    ]


def pipeline_health() -> list[Panel]:
    """Return events/s in, batch duration, lag, rejected/duplicate/late rows and rejections."""
    ledger = "FROM pipeline_batches WHERE $__timeFilter(committed_at)"
    return [
        kpi("processing_lag_seconds", SMALL),
        kpi("batch_duration_ms", SMALL),
        stat(
            "Batches",
            "Micro-batches committed in the range.",
            f'SELECT count(*) AS "batches" {ledger}',
            size=SMALL,
        ),
        kpi("events_total", SMALL),
        kpi("rejected_events_total", SMALL),
        kpi("late_events_total", SMALL),
        kpi("duplicate_events_total", SMALL),
        kpi("data_gaps_total", SMALL),
        stat(
            "KPIs updated",
            "When the processor last wrote dashboard_metrics.",
            # Epoch milliseconds: stat panels show numeric fields, and the unit formats them.
            'SELECT extract(epoch FROM max(updated_at)) * 1000 AS "updated" FROM dashboard_metrics',
            "dateTimeFromNow",
            size=SMALL,
        ),
        timeseries(
            "Events in per second",
            "Kafka messages read (input) and valid events written, per second (pipeline_batches).",
            f"""SELECT $__timeGroupAlias(committed_at, $__interval),
                sum(input_rows) / ($__interval_ms / 1000.0) AS "input",
                sum(valid_rows) / ($__interval_ms / 1000.0) AS "valid"
            {ledger} GROUP BY 1 ORDER BY 1""",
            unit="cps",
            size=(8, 8),
        ),
        timeseries(
            "Batch duration",
            "Wall time of each committed micro-batch (pipeline_batches).",
            f'SELECT committed_at AS "time", duration_ms AS "batch duration" {ledger} ORDER BY 1',
            unit="ms",
            size=(8, 8),
        ),
        timeseries(
            "Event-time lag per batch",
            "Commit time minus the newest event time of each batch (pipeline_batches). Large "
            "while old data is replayed.",
            f"""SELECT committed_at AS "time",
                extract(epoch FROM committed_at - max_event_time) AS "lag"
            {ledger} AND max_event_time IS NOT NULL ORDER BY 1""",
            unit="s",
            size=(8, 8),
        ),
        timeseries(
            "Rejected, duplicate and late rows",
            "Per interval, from the batch ledger (pipeline_batches).",
            f"""SELECT $__timeGroupAlias(committed_at, $__interval),
                sum(rejected_rows) AS "rejected", sum(duplicate_rows) AS "duplicates",
                sum(late_rows) AS "late"
            {ledger} GROUP BY 1 ORDER BY 1""",
            bars=True,
        ),
        table(
            "Rejections by reason",
            "Messages that were not valid events, by reason (rejected_events); one 'none' row "
            "when the range has none.",
            """SELECT reason, count(*) AS "messages", max(rejected_at) AS "last seen"
            FROM rejected_events WHERE $__timeFilter(rejected_at) GROUP BY reason
            UNION ALL
            SELECT 'none', 0, NULL
            WHERE NOT EXISTS (SELECT 1 FROM rejected_events WHERE $__timeFilter(rejected_at))
            ORDER BY 2 DESC""",
            [override("last seen", unit="dateTimeFromNow")],
            sort_by="messages",
        ),
    ]


def build() -> dict[str, Any]:
    """Return the "Clickstream overview" dashboard."""
    return dashboard(
        "clickstream-overview",
        "Clickstream overview",
        "Live KPIs, traffic, user behaviour, products and pipeline health of the clickstream.",
        layout(
            [
                ("Live KPIs", live_kpis()),
                ("Business KPIs", business()),
                ("User behaviour", behaviour()),
                ("Products", products()),
                ("Pipeline health", pipeline_health()),
            ]
        ),
    )
