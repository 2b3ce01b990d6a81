-- Add the chunk's change to experiment_metrics: the sessions' contributions after merge_sessions
-- less those before (stage_experiment_sessions, experiment_sessions_*.sql), summed by key, so
-- only the keys the chunk touched are written. A row is the sessions of (experiment, variant)
-- that started in its hour (UTC): sessions, converted sessions, and their orders and revenue
-- (whenever placed), over human sessions; bot sessions (is_bot) count in bot_sessions only.
-- A key left with no session is deleted by prune_experiments.sql.
INSERT INTO experiment_metrics AS cur (
    experiment, variant, window_start, sessions, converted_sessions, orders, revenue,
    bot_sessions, updated_at
)
SELECT
    experiment, variant, window_start,
    coalesce(sum(sign) FILTER (WHERE NOT is_bot), 0),
    coalesce(sum(sign) FILTER (WHERE NOT is_bot AND converted), 0),
    coalesce(sum(sign * orders) FILTER (WHERE NOT is_bot), 0),
    coalesce(sum(sign * revenue) FILTER (WHERE NOT is_bot), 0),
    coalesce(sum(sign) FILTER (WHERE is_bot), 0),
    now()
FROM stage_experiment_sessions
GROUP BY experiment, variant, window_start
ON CONFLICT (experiment, variant, window_start) DO UPDATE SET
    sessions = cur.sessions + excluded.sessions,
    converted_sessions = cur.converted_sessions + excluded.converted_sessions,
    orders = cur.orders + excluded.orders,
    revenue = cur.revenue + excluded.revenue,
    bot_sessions = cur.bot_sessions + excluded.bot_sessions,
    updated_at = excluded.updated_at
