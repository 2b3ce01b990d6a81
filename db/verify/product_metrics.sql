-- product_metrics recomputed from raw_events (non-late, with a product), compared row by row.
WITH -- Hours whose raw events retention dropped in part (retention_log) are left out: their stored
-- rows count events raw_events no longer holds.
dropped AS (
    SELECT first_event_time AS t0, last_event_time AS t1
    FROM retention_log WHERE table_name = 'raw_events' AND rows > 0
),
expected AS (
    SELECT
        date_trunc('hour', event_time) AS window_start,
        product_id,
        min(category COLLATE "C") AS category,
        count(*) FILTER (WHERE event_type = 'page_view') AS views,
        count(*) FILTER (WHERE event_type = 'add_to_cart') AS add_to_carts,
        count(*) FILTER (WHERE event_type = 'purchase') AS purchases,
        coalesce(sum(quantity) FILTER (WHERE event_type = 'purchase'), 0) AS units_sold,
        coalesce(sum(price * quantity) FILTER (WHERE event_type = 'purchase'), 0) AS revenue
    FROM raw_events
    WHERE NOT is_late AND product_id IS NOT NULL
    GROUP BY 1, 2
),
stored AS (
    SELECT window_start, product_id, category, views, add_to_carts, purchases, units_sold, revenue
    FROM product_metrics
)
SELECT coalesce(e.window_start, s.window_start)::text || ' '
       || coalesce(e.product_id, s.product_id)::text AS key,
       to_jsonb(e) AS expected, to_jsonb(s) AS stored
FROM expected AS e
FULL JOIN stored AS s ON s.window_start = e.window_start AND s.product_id = e.product_id
WHERE to_jsonb(e) IS DISTINCT FROM to_jsonb(s)
  AND NOT EXISTS (
      SELECT FROM dropped AS d
      WHERE coalesce(e.window_start, s.window_start) BETWEEN date_trunc('hour', d.t0) AND d.t1)
ORDER BY 1
