-- The dashboard KPIs that follow from the data, recomputed from raw_events, rejected_events and
-- pipeline_batches (windows without the events of bot sessions) (processing lag and batch figures describe a moment and are not checked).
-- Totals count the rows retention dropped (retention_log); the windowed KPIs are left out when
-- retention dropped events of their last hour.
WITH dropped AS (
    SELECT coalesce(sum(rows) FILTER (WHERE table_name = 'raw_events'), 0) AS events,
           coalesce(sum(late_rows), 0) AS late,
           coalesce(sum(rows) FILTER (WHERE table_name = 'rejected_events'), 0) AS rejected,
           min(first_event_time) AS t0, max(last_event_time) AS t1
    FROM retention_log
),
newest AS (
    SELECT max(max_event_time) AS t FROM pipeline_batches
),
ev AS (
    SELECT * FROM raw_events WHERE NOT is_late
),
-- Bot sessions (their first event's user agent is a known bot's) count in no windowed KPI.
bot_sessions AS (
    SELECT session_id
    FROM (SELECT DISTINCT ON (session_id) session_id, user_agent
          FROM ev ORDER BY session_id, event_time, event_id) AS f
    WHERE is_bot_agent(user_agent)
),
human AS (
    SELECT * FROM ev WHERE session_id NOT IN (SELECT session_id FROM bot_sessions)
),
sessions AS (
    SELECT session_id, max(event_time) AS last_event,
           bool_or(event_type = 'purchase') AS converted,
           bool_or(event_type = 'add_to_cart') AS carted
    FROM human GROUP BY session_id
),
sessions_1h AS (
    SELECT count(*) AS sessions,
           count(*) FILTER (WHERE converted) AS converted,
           count(*) FILTER (WHERE carted) AS carted,
           count(*) FILTER (WHERE carted AND NOT converted) AS abandoned
    FROM sessions, newest WHERE last_event > t - interval '1 hour'
),
window_5m AS (
    SELECT count(DISTINCT user_id) AS users, count(DISTINCT session_id) AS sessions
    FROM human, newest WHERE event_time > t - interval '5 minutes' AND event_time <= t
),
orders_1h AS (
    SELECT coalesce(sum(price * quantity), 0) AS revenue, count(DISTINCT order_id) AS orders
    FROM human, newest
    WHERE event_type = 'purchase' AND event_time > t - interval '1 hour' AND event_time <= t
),
expected AS (
    SELECT m.metric_name, m.metric_value
    FROM newest, dropped, sessions_1h, window_5m, orders_1h,
    LATERAL (VALUES
        ('events_last_minute', (SELECT count(*) FROM human WHERE event_time > t - interval '1 minute'
                                AND event_time <= t)::double precision),
        ('active_users_5m', window_5m.users::double precision),
        ('active_sessions_5m', window_5m.sessions::double precision),
        ('conversion_rate_1h', sessions_1h.converted::double precision
                               / nullif(sessions_1h.sessions, 0)),
        ('cart_abandonment_rate_1h', sessions_1h.abandoned::double precision
                                     / nullif(sessions_1h.carted, 0)),
        ('revenue_1h', orders_1h.revenue::double precision),
        ('orders_1h', orders_1h.orders::double precision),
        ('avg_order_value_1h', round(orders_1h.revenue / nullif(orders_1h.orders, 0), 2)
                               ::double precision),
        ('events_total', ((SELECT count(*) FROM raw_events) + dropped.events)::double precision),
        ('rejected_events_total',
         ((SELECT count(*) FROM rejected_events) + dropped.rejected)::double precision),
        ('late_events_total',
         ((SELECT count(*) FROM raw_events WHERE is_late) + dropped.late)::double precision),
        ('data_gaps_total', (SELECT count(*) FROM data_gaps)::double precision),
        ('newest_event_epoch', extract(epoch FROM newest.t)::double precision)
    ) AS m (metric_name, metric_value)
    WHERE newest.t IS NOT NULL
      AND NOT (m.metric_name NOT LIKE '%\_total' AND m.metric_name <> 'newest_event_epoch'
               AND dropped.t1 > newest.t - interval '1 hour')
),
stored AS (
    SELECT metric_name, metric_value FROM dashboard_metrics
    WHERE metric_name IN (SELECT metric_name FROM expected)
)
SELECT coalesce(e.metric_name, s.metric_name) AS key, to_jsonb(e) AS expected,
       to_jsonb(s) AS stored
FROM expected AS e FULL JOIN stored AS s ON s.metric_name = e.metric_name
WHERE to_jsonb(e) IS DISTINCT FROM to_jsonb(s)
ORDER BY 1
