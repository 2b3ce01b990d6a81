-- After merge_sessions: what the chunk's sessions contribute to experiment_metrics now, with
-- sign +1 (experiment_sessions_before.sql took out what they contributed before, with -1).
-- merge_experiments.sql adds the sum by key.
INSERT INTO stage_experiment_sessions
SELECT 1, s.experiment, s.variant, date_trunc('hour', s.session_start), s.is_bot, s.converted,
       s.orders, s.revenue
FROM user_sessions AS s
WHERE s.session_id IN (SELECT session_id FROM stage_new WHERE NOT is_late)
  AND s.experiment IS NOT NULL AND s.variant IS NOT NULL
