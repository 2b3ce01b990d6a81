-- What the database holds, in the producer ledger's terms: every stored event once (late ones
-- included: they were delivered), every rejected message and every duplicate the batches saw.
SELECT
    count(*) AS events,
    count(*) FILTER (WHERE event_type = 'page_view') AS page_view,
    count(*) FILTER (WHERE event_type = 'add_to_cart') AS add_to_cart,
    count(*) FILTER (WHERE event_type = 'purchase') AS purchase,
    count(DISTINCT session_id) AS sessions,
    count(DISTINCT user_id) AS users,
    count(DISTINCT order_id) FILTER (WHERE event_type = 'purchase') AS orders,
    coalesce(sum(price * quantity) FILTER (WHERE event_type = 'purchase'), 0) AS revenue,
    count(*) FILTER (WHERE is_late) AS late,
    (SELECT count(*) FROM rejected_events) AS rejected,
    (SELECT coalesce(sum(duplicate_rows), 0) FROM pipeline_batches) AS duplicates
FROM raw_events
