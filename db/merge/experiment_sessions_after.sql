-- After merge_sessions: what the chunk's sessions contribute to experiment_metrics now, with
-- sign +1 (experiment_sessions_before.sql took out what they contributed before, with -1).
-- merge_experiments.sql adds the sum by key.
INSERT INTO stage_experiment_sessions
SELECT 1, s.experiment, s.variant, date_trunc('hour', s.session_start), s.is_bot, s.converted,
       s.orders, s.revenue
FROM (SELECT DISTINCT session_id FROM stage_new WHERE NOT is_late) AS n
CROSS JOIN LATERAL (
    SELECT * FROM user_sessions AS u
    WHERE u.session_id = n.session_id AND u.experiment IS NOT NULL AND u.variant IS NOT NULL
    LIMIT 1  -- an id is one session; the limit keeps the probe a probe (no join reordering)
) AS s
-- Nothing to look up while no session is in an experiment (one peek at the partial index).
WHERE EXISTS (SELECT FROM user_sessions WHERE experiment IS NOT NULL AND variant IS NOT NULL)
