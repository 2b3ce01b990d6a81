-- Staged events that were already stored before this transaction (cross-batch duplicates):
-- rows this transaction inserted carry its transaction id in xmin.
SELECT s.event_id::text
FROM stage_events AS s
JOIN raw_events AS r USING (event_id)
WHERE r.xmin <> xid(pg_current_xact_id())
