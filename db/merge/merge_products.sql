-- Merge the batch's new, non-late events that name a product into product_metrics, per
-- (hour, product). category: the smallest non-null category seen, in byte order.
INSERT INTO product_metrics AS cur (
    window_start, product_id, category, views, add_to_carts, purchases, units_sold, revenue,
    updated_at
)
SELECT
    hour,
    product_id,
    min(category COLLATE "C"),
    count(*) FILTER (WHERE event_type = 'page_view'),
    count(*) FILTER (WHERE event_type = 'add_to_cart'),
    count(*) FILTER (WHERE event_type = 'purchase'),
    coalesce(sum(quantity) FILTER (WHERE event_type = 'purchase'), 0),
    coalesce(sum(price * quantity) FILTER (WHERE event_type = 'purchase'), 0),
    now()
FROM stage_new
WHERE NOT is_late AND product_id IS NOT NULL
GROUP BY 1, 2
ON CONFLICT (window_start, product_id) DO UPDATE SET
    category = least(cur.category COLLATE "C", excluded.category COLLATE "C"),
    views = cur.views + excluded.views,
    add_to_carts = cur.add_to_carts + excluded.add_to_carts,
    purchases = cur.purchases + excluded.purchases,
    units_sold = cur.units_sold + excluded.units_sold,
    revenue = cur.revenue + excluded.revenue,
    updated_at = now()
