-- Merge the batch's new, non-late events into hourly_metrics. Distinct counts stay exact:
-- only (hour, id) pairs new to hourly_users / hourly_sessions / hourly_orders add to
-- unique_users, unique_sessions and orders.
WITH ev AS (
    SELECT hour AS window_start, event_type, user_id, session_id, order_id, price, quantity
    FROM stage_new
    WHERE NOT is_late
),
batch AS (
    SELECT
        window_start,
        count(*) AS events,
        count(*) FILTER (WHERE event_type = 'page_view') AS page_views,
        count(*) FILTER (WHERE event_type = 'add_to_cart') AS add_to_carts,
        count(*) FILTER (WHERE event_type = 'purchase') AS purchases,
        coalesce(sum(price * quantity) FILTER (WHERE event_type = 'purchase'), 0) AS revenue
    FROM ev
    GROUP BY window_start
),
new_users AS (
    INSERT INTO hourly_users (window_start, user_id)
    SELECT DISTINCT window_start, user_id FROM ev
    ON CONFLICT DO NOTHING
    RETURNING window_start
),
new_sessions AS (
    INSERT INTO hourly_sessions (window_start, session_id)
    SELECT DISTINCT window_start, session_id FROM ev
    ON CONFLICT DO NOTHING
    RETURNING window_start
),
new_orders AS (
    INSERT INTO hourly_orders (window_start, order_id)
    SELECT DISTINCT window_start, order_id FROM ev WHERE event_type = 'purchase'
    ON CONFLICT DO NOTHING
    RETURNING window_start
),
users AS (SELECT window_start, count(*) AS n FROM new_users GROUP BY window_start),
sessions AS (SELECT window_start, count(*) AS n FROM new_sessions GROUP BY window_start),
orders AS (SELECT window_start, count(*) AS n FROM new_orders GROUP BY window_start)
INSERT INTO hourly_metrics AS cur (
    window_start, events, page_views, add_to_carts, purchases, orders, revenue, unique_users,
    unique_sessions, conversion_rate, avg_order_value, updated_at
)
SELECT
    b.window_start, b.events, b.page_views, b.add_to_carts, b.purchases, coalesce(o.n, 0),
    b.revenue, coalesce(u.n, 0), coalesce(s.n, 0),
    coalesce(o.n, 0)::double precision / nullif(coalesce(s.n, 0), 0),
    round(b.revenue / nullif(coalesce(o.n, 0), 0), 2),
    now()
FROM batch AS b
LEFT JOIN users AS u USING (window_start)
LEFT JOIN sessions AS s USING (window_start)
LEFT JOIN orders AS o USING (window_start)
ON CONFLICT (window_start) DO UPDATE SET
    events = cur.events + excluded.events,
    page_views = cur.page_views + excluded.page_views,
    add_to_carts = cur.add_to_carts + excluded.add_to_carts,
    purchases = cur.purchases + excluded.purchases,
    orders = cur.orders + excluded.orders,
    revenue = cur.revenue + excluded.revenue,
    unique_users = cur.unique_users + excluded.unique_users,
    unique_sessions = cur.unique_sessions + excluded.unique_sessions,
    conversion_rate = (cur.orders + excluded.orders)::double precision
                      / nullif(cur.unique_sessions + excluded.unique_sessions, 0),
    avg_order_value = round((cur.revenue + excluded.revenue)
                            / nullif(cur.orders + excluded.orders, 0), 2),
    updated_at = now()
