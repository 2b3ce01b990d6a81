-- Summarize the block ranges of raw_events that the BRIN index on event_time has not covered
-- yet (the batch just committed), so that time-range reads skip them like older ranges.
-- Autovacuum would too (autosummarize), but only on its next round. No-op without the index.
SELECT brin_summarize_new_values(c.oid)
FROM pg_class AS c
WHERE c.oid = to_regclass('raw_events_event_time_brin')
