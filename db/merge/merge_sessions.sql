-- Merge the batch's new, non-late events into user_sessions (docs/design.md §4).
-- Counts and revenue add up, start/end take min/max; orders count only order ids the session
-- never had (session_orders); user_id, device_type, experiment, variant and is_bot (its user
-- agent is a known bot's: processor/bots.py bot_flags(), which the chunk computed in Arrow;
-- verify recomputes it with is_bot_agent()) are those of the session's first event (earliest
-- event_time, then smallest event_id), so merges in any order agree.
WITH ev AS (
    SELECT
        event_id, event_type, event_time, user_id, session_id, device_type, price, quantity,
        order_id, is_bot, experiment, variant
    FROM stage_new
    WHERE NOT is_late
),
first_event AS (
    SELECT DISTINCT ON (session_id) session_id, user_id, device_type, event_id, event_time,
        experiment, variant, is_bot
    FROM ev
    ORDER BY session_id, event_time, event_id
),
batch AS (
    SELECT
        session_id,
        max(event_time) AS session_end,
        count(*) AS events,
        count(*) FILTER (WHERE event_type = 'page_view') AS page_views,
        count(*) FILTER (WHERE event_type = 'add_to_cart') AS add_to_carts,
        count(*) FILTER (WHERE event_type = 'purchase') AS purchases,
        coalesce(sum(price * quantity) FILTER (WHERE event_type = 'purchase'), 0) AS revenue
    FROM ev
    GROUP BY session_id
),
new_orders AS (
    INSERT INTO session_orders (session_id, order_id)
    SELECT DISTINCT session_id, order_id FROM ev WHERE event_type = 'purchase'
    ON CONFLICT DO NOTHING
    RETURNING session_id
),
order_counts AS (
    SELECT session_id, count(*) AS orders FROM new_orders GROUP BY session_id
)
INSERT INTO user_sessions AS cur (
    session_id, user_id, device_type, experiment, variant, is_bot, first_event_id, session_start,
    session_end, duration_seconds, events, page_views, add_to_carts, purchases, orders, revenue,
    converted, cart_abandoned, is_bounce, updated_at
)
SELECT
    b.session_id, f.user_id, f.device_type, f.experiment, f.variant, f.is_bot, f.event_id,
    f.event_time, b.session_end,
    extract(epoch FROM b.session_end - f.event_time)::double precision,
    b.events, b.page_views, b.add_to_carts, b.purchases, coalesce(c.orders, 0), b.revenue,
    coalesce(c.orders, 0) > 0,
    b.add_to_carts > 0 AND coalesce(c.orders, 0) = 0,
    b.events = 1 AND b.page_views = 1,
    now()
FROM batch AS b
JOIN first_event AS f USING (session_id)
LEFT JOIN order_counts AS c USING (session_id)
ON CONFLICT (session_id) DO UPDATE SET
    user_id = CASE WHEN (excluded.session_start, excluded.first_event_id)
                        < (cur.session_start, cur.first_event_id)
                   THEN excluded.user_id ELSE cur.user_id END,
    device_type = CASE WHEN (excluded.session_start, excluded.first_event_id)
                            < (cur.session_start, cur.first_event_id)
                       THEN excluded.device_type ELSE cur.device_type END,
    experiment = CASE WHEN (excluded.session_start, excluded.first_event_id)
                           < (cur.session_start, cur.first_event_id)
                      THEN excluded.experiment ELSE cur.experiment END,
    variant = CASE WHEN (excluded.session_start, excluded.first_event_id)
                        < (cur.session_start, cur.first_event_id)
                   THEN excluded.variant ELSE cur.variant END,
    is_bot = CASE WHEN (excluded.session_start, excluded.first_event_id)
                       < (cur.session_start, cur.first_event_id)
                  THEN excluded.is_bot ELSE cur.is_bot END,
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
