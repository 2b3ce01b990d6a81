-- Merge the batch's hour partials into hourly_metrics (DESIGN.md §4). Distinct counts stay
-- exact: only (hour, id) pairs new to the helper tables add to unique_users, unique_sessions
-- and orders.
WITH new_users AS (
    INSERT INTO hourly_users (window_start, user_id)
    SELECT h.window_start, x.id FROM stage_hours AS h CROSS JOIN LATERAL unnest(h.user_ids) AS x (id)
    ON CONFLICT DO NOTHING
    RETURNING window_start
),
new_sessions AS (
    INSERT INTO hourly_sessions (window_start, session_id)
    SELECT h.window_start, x.id FROM stage_hours AS h CROSS JOIN LATERAL unnest(h.session_ids) AS x (id)
    ON CONFLICT DO NOTHING
    RETURNING window_start
),
new_orders AS (
    INSERT INTO hourly_orders (window_start, order_id)
    SELECT h.window_start, x.id FROM stage_hours AS h CROSS JOIN LATERAL unnest(h.order_ids) AS x (id)
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
    h.window_start, h.events, h.page_views, h.add_to_carts, h.purchases, coalesce(o.n, 0),
    h.revenue, coalesce(u.n, 0), coalesce(s.n, 0),
    coalesce(o.n, 0)::double precision / nullif(coalesce(s.n, 0), 0),
    round(h.revenue / nullif(coalesce(o.n, 0), 0), 2),
    now()
FROM stage_hours AS h
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
