-- Before merge_sessions: what the chunk's sessions contribute to experiment_metrics now, with
-- sign -1 (experiment_sessions_after.sql adds what they contribute after it). A session counts
-- under (experiment, variant, the hour it started), its first event's; an earlier event that
-- becomes its first one may move it to another hour, variant or bot flag, and the two rows
-- then take it out of the old key and into the new one. Only sessions in an experiment count
-- (a partial index finds them; it is small when few are).
INSERT INTO stage_experiment_sessions
SELECT -1, s.experiment, s.variant, date_trunc('hour', s.session_start), s.is_bot, s.converted,
       s.orders, s.revenue
FROM user_sessions AS s
WHERE s.session_id IN (SELECT session_id FROM stage_new WHERE NOT is_late)
  AND s.experiment IS NOT NULL AND s.variant IS NOT NULL
