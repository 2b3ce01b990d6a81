-- What the database holds, in the producer ledger's terms: every stored event once (late ones
-- included: they were delivered), every rejected message and every duplicate the batches saw.
-- Rows retention dropped (retention_log) are added where a sum can hold them; `dropped` says
-- how many raw events are gone, whose sessions, users and orders can no longer be counted.
WITH dropped AS (
    SELECT coalesce(sum(rows) FILTER (WHERE table_name = 'raw_events'), 0) AS events,
           coalesce(sum(page_views), 0) AS page_view,
           coalesce(sum(add_to_carts), 0) AS add_to_cart,
           coalesce(sum(purchases), 0) AS purchase,
           coalesce(sum(revenue), 0) AS revenue,
           coalesce(sum(late_rows), 0) AS late,
           coalesce(sum(rows) FILTER (WHERE table_name = 'rejected_events'), 0) AS rejected
    FROM retention_log
),
stored AS (
    SELECT
        count(*) AS events,
        count(*) FILTER (WHERE event_type = 'page_view') AS page_view,
        count(*) FILTER (WHERE event_type = 'add_to_cart') AS add_to_cart,
        count(*) FILTER (WHERE event_type = 'purchase') AS purchase,
        count(DISTINCT session_id) AS sessions,
        count(DISTINCT user_id) AS users,
        count(DISTINCT order_id) FILTER (WHERE event_type = 'purchase') AS orders,
        coalesce(sum(price * quantity) FILTER (WHERE event_type = 'purchase'), 0) AS revenue,
        count(*) FILTER (WHERE is_late) AS late
    FROM raw_events
)
SELECT
    s.events + d.events AS events,
    s.page_view + d.page_view AS page_view,
    s.add_to_cart + d.add_to_cart AS add_to_cart,
    s.purchase + d.purchase AS purchase,
    s.sessions, s.users, s.orders,
    s.revenue + d.revenue AS revenue,
    s.late + d.late AS late,
    (SELECT count(*) FROM rejected_events) + d.rejected AS rejected,
    (SELECT coalesce(sum(duplicate_rows), 0) FROM pipeline_batches) AS duplicates,
    d.events AS dropped
FROM stored AS s CROSS JOIN dropped AS d
