-- Merge the batch's (hour, product) partials into product_metrics (DESIGN.md §4).
-- category: the smallest non-null category seen (byte order, as Spark compares strings).
INSERT INTO product_metrics AS cur (
    window_start, product_id, category, views, add_to_carts, purchases, units_sold, revenue,
    updated_at
)
SELECT
    window_start, product_id, category, views, add_to_carts, purchases, units_sold, revenue,
    now()
FROM stage_products
ON CONFLICT (window_start, product_id) DO UPDATE SET
    category = least(cur.category COLLATE "C", excluded.category COLLATE "C"),
    views = cur.views + excluded.views,
    add_to_carts = cur.add_to_carts + excluded.add_to_carts,
    purchases = cur.purchases + excluded.purchases,
    units_sold = cur.units_sold + excluded.units_sold,
    revenue = cur.revenue + excluded.revenue,
    updated_at = now()
