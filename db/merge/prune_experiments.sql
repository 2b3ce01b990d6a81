-- A key of experiment_metrics whose sessions all moved to other keys (merge_experiments.sql
-- took them out) holds no session: it goes, as a recomputation would not have it.
DELETE FROM experiment_metrics AS m
USING (SELECT DISTINCT experiment, variant, window_start FROM stage_experiment_sessions) AS k
WHERE m.experiment = k.experiment AND m.variant = k.variant AND m.window_start = k.window_start
  AND m.sessions = 0 AND m.bot_sessions = 0
