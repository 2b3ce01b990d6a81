-- What the chunk's sessions contribute to experiment_metrics now, with sign %(sign)s: run with
-- -1 before merge_sessions and with +1 after it (processor/chunks.py MERGES), so that
-- merge_experiments.sql adds the change by key. A session counts
-- under (experiment, variant, the hour it started), its first event's; an earlier event that
-- becomes its first one may move it to another hour, variant or bot flag, and the two rows
-- then take it out of the old key and into the new one. Only sessions in an experiment count:
-- each of the chunk's sessions is probed in a partial index of them (a lateral join, so that
-- a stale estimate cannot turn it into a scan of every experiment session per chunk session).
INSERT INTO stage_experiment_sessions
SELECT %(sign)s::int, s.experiment, s.variant, date_trunc('hour', s.session_start), s.is_bot,
       s.converted, s.orders, s.revenue
FROM (SELECT DISTINCT session_id FROM stage_new WHERE NOT is_late) AS n
CROSS JOIN LATERAL (
    SELECT * FROM user_sessions AS u
    WHERE u.session_id = n.session_id AND u.experiment IS NOT NULL AND u.variant IS NOT NULL
    LIMIT 1  -- an id is one session; the limit keeps the probe a probe (no join reordering)
) AS s
-- Nothing to look up while no session is in an experiment (one peek at the partial index).
WHERE EXISTS (SELECT FROM user_sessions WHERE experiment IS NOT NULL AND variant IS NOT NULL)
