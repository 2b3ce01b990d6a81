-- Recompute every dashboard KPI (names: processor/dashboard.py DASHBOARD_METRICS).
-- "Last N minutes" runs back from t, the newest event time committed so far, over (t - N, t].
-- t is a parameter (newest_event_time.sql), not a subquery, so that the planner sees its value:
-- with an unknown t it guessed a tenth of raw_events in the window and at times scanned it all.
-- Late events never count in windows. Session KPIs use sessions active in the window
-- (session_end > t - N, which is the same as having a non-late event in the window).
-- Bot sessions (user_sessions.is_bot) and their events never count in windows either.
WITH totals AS (
    SELECT sum(input_rows - duplicate_rows - rejected_rows) AS events,
           sum(rejected_rows) AS rejected, sum(late_rows) AS late,
           sum(duplicate_rows) AS duplicates
    FROM pipeline_batches
),
last_minute AS (
    SELECT count(*) AS events
    FROM raw_events AS r
    WHERE event_time > %(t)s::timestamptz - interval '1 minute'
      AND event_time <= %(t)s::timestamptz AND NOT is_late
      AND NOT EXISTS (SELECT FROM user_sessions AS s WHERE s.session_id = r.session_id
                      AND s.is_bot)
),
active_5m AS (
    SELECT count(*) AS sessions, count(DISTINCT user_id) AS users
    FROM user_sessions
    WHERE session_end > %(t)s::timestamptz - interval '5 minutes' AND NOT is_bot
),
sessions_1h AS (
    SELECT count(*) AS sessions,
           count(*) FILTER (WHERE converted) AS converted,
           count(*) FILTER (WHERE add_to_carts > 0) AS carted,
           count(*) FILTER (WHERE cart_abandoned) AS abandoned
    FROM user_sessions
    WHERE session_end > %(t)s::timestamptz - interval '1 hour' AND NOT is_bot
),
orders_1h AS (
    SELECT coalesce(sum(price * quantity), 0) AS revenue, count(DISTINCT order_id) AS orders
    FROM raw_events AS r
    WHERE event_type = 'purchase' AND event_time > %(t)s::timestamptz - interval '1 hour'
      AND event_time <= %(t)s::timestamptz AND NOT is_late
      AND NOT EXISTS (SELECT FROM user_sessions AS s WHERE s.session_id = r.session_id
                      AND s.is_bot)
)
INSERT INTO dashboard_metrics AS cur (metric_name, metric_value, updated_at)
SELECT m.name, m.value, now()
FROM totals, last_minute, active_5m, sessions_1h, orders_1h,
LATERAL (VALUES
    ('events_last_minute', last_minute.events::double precision),
    ('active_users_5m', active_5m.users::double precision),
    ('active_sessions_5m', active_5m.sessions::double precision),
    ('conversion_rate_1h', sessions_1h.converted::double precision
                           / nullif(sessions_1h.sessions, 0)),
    ('cart_abandonment_rate_1h', sessions_1h.abandoned::double precision
                                 / nullif(sessions_1h.carted, 0)),
    ('revenue_1h', orders_1h.revenue::double precision),
    ('orders_1h', orders_1h.orders::double precision),
    ('avg_order_value_1h', round(orders_1h.revenue / nullif(orders_1h.orders, 0), 2)
                           ::double precision),
    ('events_total', coalesce(totals.events, 0)::double precision),
    ('rejected_events_total', coalesce(totals.rejected, 0)::double precision),
    ('late_events_total', coalesce(totals.late, 0)::double precision),
    ('duplicate_events_total', coalesce(totals.duplicates, 0)::double precision),
    ('data_gaps_total', (SELECT count(*) FROM data_gaps)::double precision),
    ('newest_event_epoch', extract(epoch FROM %(t)s::timestamptz)::double precision),
    ('processing_lag_seconds',
        extract(epoch FROM clock_timestamp() - %(max_kafka_timestamp)s::timestamptz)
        ::double precision),
    ('batch_duration_ms', %(duration_ms)s::double precision),
    ('batch_input_rows', %(input_rows)s::double precision)
) AS m (name, value)
ON CONFLICT (metric_name) DO UPDATE SET
    metric_value = excluded.metric_value,
    updated_at = excluded.updated_at
