-- user_sessions recomputed from raw_events (non-late), compared row by row.
-- Returns one row per difference: key, expected row, stored row (null when missing).
WITH -- Sessions whose raw events retention dropped in part (retention_log) are left out: their stored
-- rows count events raw_events no longer holds.
dropped AS (
    SELECT first_event_time AS t0, last_event_time AS t1
    FROM retention_log WHERE table_name = 'raw_events' AND rows > 0
),
ev AS (
    SELECT * FROM raw_events WHERE NOT is_late
),
first_event AS (
    -- is_bot_agent() once per session, after DISTINCT ON (in its select list, once per event).
    SELECT session_id, user_id, device_type, event_id, experiment, variant,
        is_bot_agent(user_agent) AS is_bot
    FROM (
        SELECT DISTINCT ON (session_id) session_id, user_id, device_type, event_id, experiment,
            variant, user_agent
        FROM ev
        ORDER BY session_id, event_time, event_id
    ) AS f
),
totals AS (
    SELECT
        session_id,
        min(event_time) AS session_start,
        max(event_time) AS session_end,
        count(*) AS events,
        count(*) FILTER (WHERE event_type = 'page_view') AS page_views,
        count(*) FILTER (WHERE event_type = 'add_to_cart') AS add_to_carts,
        count(*) FILTER (WHERE event_type = 'purchase') AS purchases,
        count(DISTINCT order_id) FILTER (WHERE event_type = 'purchase') AS orders,
        coalesce(sum(price * quantity) FILTER (WHERE event_type = 'purchase'), 0) AS revenue
    FROM ev
    GROUP BY session_id
),
expected AS (
    SELECT
        t.session_id, f.user_id, t.session_start, t.session_end,
        extract(epoch FROM t.session_end - t.session_start)::double precision AS duration_seconds,
        t.events, t.page_views, t.add_to_carts, t.purchases, t.orders, t.revenue,
        t.orders > 0 AS converted,
        t.add_to_carts > 0 AND t.orders = 0 AS cart_abandoned,
        t.events = 1 AND t.page_views = 1 AS is_bounce,
        f.device_type, f.event_id AS first_event_id, f.experiment, f.variant, f.is_bot
    FROM totals AS t JOIN first_event AS f USING (session_id)
),
stored AS (
    SELECT
        session_id, user_id, session_start, session_end, duration_seconds, events, page_views,
        add_to_carts, purchases, orders, revenue, converted, cart_abandoned, is_bounce,
        device_type, first_event_id, experiment, variant, is_bot
    FROM user_sessions
)
SELECT coalesce(e.session_id, s.session_id)::text AS key, to_jsonb(e) AS expected,
       to_jsonb(s) AS stored
FROM expected AS e FULL JOIN stored AS s ON s.session_id = e.session_id
WHERE to_jsonb(e) IS DISTINCT FROM to_jsonb(s)
  AND NOT EXISTS (
      SELECT FROM dropped AS d
      WHERE (s.session_start <= d.t1 AND s.session_end >= d.t0)
         OR (e.session_start <= d.t1 AND e.session_end >= d.t0))
ORDER BY 1
