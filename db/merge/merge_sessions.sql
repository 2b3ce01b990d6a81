-- Merge the batch's session partials into user_sessions (DESIGN.md §4). Orders count only
-- order ids the session has never had; the first event decides user_id and device_type.
WITH new_orders AS (
    INSERT INTO session_orders (session_id, order_id)
    SELECT s.session_id, o.order_id
    FROM stage_sessions AS s CROSS JOIN LATERAL unnest(s.order_ids) AS o (order_id)
    ON CONFLICT DO NOTHING
    RETURNING session_id
),
order_counts AS (
    SELECT session_id, count(*) AS orders FROM new_orders GROUP BY session_id
)
INSERT INTO user_sessions AS cur (
    session_id, user_id, device_type, first_event_id, session_start, session_end,
    duration_seconds, events, page_views, add_to_carts, purchases, orders, revenue,
    converted, cart_abandoned, is_bounce, updated_at
)
SELECT
    s.session_id, s.user_id, s.device_type, s.first_event_id, s.session_start, s.session_end,
    extract(epoch FROM s.session_end - s.session_start)::double precision,
    s.events, s.page_views, s.add_to_carts, s.purchases, coalesce(c.orders, 0), s.revenue,
    coalesce(c.orders, 0) > 0,
    s.add_to_carts > 0 AND coalesce(c.orders, 0) = 0,
    s.events = 1 AND s.page_views = 1,
    now()
FROM stage_sessions AS s
LEFT JOIN order_counts AS c USING (session_id)
ON CONFLICT (session_id) DO UPDATE SET
    user_id = CASE WHEN (excluded.session_start, excluded.first_event_id)
                        < (cur.session_start, cur.first_event_id)
                   THEN excluded.user_id ELSE cur.user_id END,
    device_type = CASE WHEN (excluded.session_start, excluded.first_event_id)
                            < (cur.session_start, cur.first_event_id)
                       THEN excluded.device_type ELSE cur.device_type END,
    first_event_id = CASE WHEN (excluded.session_start, excluded.first_event_id)
                               < (cur.session_start, cur.first_event_id)
                          THEN excluded.first_event_id ELSE cur.first_event_id END,
    session_start = least(cur.session_start, excluded.session_start),
    session_end = greatest(cur.session_end, excluded.session_end),
    duration_seconds = extract(epoch FROM greatest(cur.session_end, excluded.session_end)
                                          - least(cur.session_start, excluded.session_start)
                              )::double precision,
    events = cur.events + excluded.events,
    page_views = cur.page_views + excluded.page_views,
    add_to_carts = cur.add_to_carts + excluded.add_to_carts,
    purchases = cur.purchases + excluded.purchases,
    orders = cur.orders + excluded.orders,
    revenue = cur.revenue + excluded.revenue,
    converted = cur.orders + excluded.orders > 0,
    cart_abandoned = cur.add_to_carts + excluded.add_to_carts > 0
                     AND cur.orders + excluded.orders = 0,
    is_bounce = cur.events + excluded.events = 1 AND cur.page_views + excluded.page_views = 1,
    updated_at = now()
