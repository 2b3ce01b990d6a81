"""The dashboard KPIs: their stable names and what each one means.

db/merge/refresh_dashboard.sql recomputes all of them in every micro-batch's transaction; Grafana
and processor/status.py read them from dashboard_metrics by these names.
"""

from __future__ import annotations

# name -> meaning. "Last N" windows run back from the newest event time committed (t), over
# (t - N, t]; late events never count in windows.
DASHBOARD_METRICS: dict[str, str] = {
    "events_last_minute": "valid, non-late events with event time in the last minute",
    "active_users_5m": "distinct users with an event in the last 5 minutes",
    "active_sessions_5m": "sessions with an event in the last 5 minutes",
    "conversion_rate_1h": (
        "sessions with an order / sessions, over sessions active in the last hour"
    ),
    "cart_abandonment_rate_1h": (
        "sessions with an add-to-cart and no order / sessions with an add-to-cart, "
        "over sessions active in the last hour"
    ),
    "revenue_1h": "sum of price x quantity over purchase lines in the last hour",
    "orders_1h": "distinct order ids over purchase lines in the last hour",
    "avg_order_value_1h": "revenue_1h / orders_1h, rounded to cents (null without orders)",
    "events_total": "events stored in raw_events (each event_id once, late ones included)",
    "rejected_events_total": "messages stored in rejected_events",
    "late_events_total": "events beyond the lateness bound (in raw_events, not in aggregates)",
    "duplicate_events_total": (
        "messages already stored: a valid event whose event_id was seen before, or a rejection "
        "whose Kafka position was"
    ),
    "data_gaps_total": (
        "gaps the processor found: offsets never read (aged out of retention) or a topic "
        "recreated (data_gaps rows)"
    ),
    "newest_event_epoch": "the newest event time committed, as Unix seconds",
    "processing_lag_seconds": (
        "commit time of the latest batch minus the newest Kafka timestamp in it: how old the "
        "freshest message was when it became visible"
    ),
    "batch_duration_ms": "wall time of the latest micro-batch, from start to just before commit",
    "batch_input_rows": "Kafka messages in the latest micro-batch",
}
DASHBOARD_METRIC_NAMES: tuple[str, ...] = tuple(DASHBOARD_METRICS)
