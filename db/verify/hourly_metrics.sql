-- hourly_metrics recomputed from raw_events (non-late), with exact distinct counts.
WITH -- Hours whose raw events retention dropped in part (retention_log) are left out: their stored
-- rows count events raw_events no longer holds.
dropped AS (
    SELECT first_event_time AS t0, last_event_time AS t1
    FROM retention_log WHERE table_name = 'raw_events' AND rows > 0
),
counts AS (
    SELECT
        date_trunc('hour', event_time) AS window_start,
        count(*) AS events,
        count(*) FILTER (WHERE event_type = 'page_view') AS page_views,
        count(*) FILTER (WHERE event_type = 'add_to_cart') AS add_to_carts,
        count(*) FILTER (WHERE event_type = 'purchase') AS purchases,
        count(DISTINCT order_id) FILTER (WHERE event_type = 'purchase') AS orders,
        coalesce(sum(price * quantity) FILTER (WHERE event_type = 'purchase'), 0) AS revenue,
        count(DISTINCT user_id) AS unique_users,
        count(DISTINCT session_id) AS unique_sessions
    FROM raw_events
    WHERE NOT is_late
    GROUP BY 1
),
expected AS (
    SELECT
        *,
        orders::double precision / nullif(unique_sessions, 0) AS conversion_rate,
        round(revenue / nullif(orders, 0), 2) AS avg_order_value
    FROM counts
),
stored AS (
    SELECT window_start, events, page_views, add_to_carts, purchases, orders, revenue,
           unique_users, unique_sessions, conversion_rate, avg_order_value
    FROM hourly_metrics
)
SELECT coalesce(e.window_start, s.window_start)::text AS key, to_jsonb(e) AS expected,
       to_jsonb(s) AS stored
FROM expected AS e FULL JOIN stored AS s ON s.window_start = e.window_start
WHERE to_jsonb(e) IS DISTINCT FROM to_jsonb(s)
  AND NOT EXISTS (
      SELECT FROM dropped AS d
      WHERE coalesce(e.window_start, s.window_start) BETWEEN date_trunc('hour', d.t0) AND d.t1)
ORDER BY 1
