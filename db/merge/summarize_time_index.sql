-- Summarize the block ranges of raw_events that the BRIN index on event_time has not covered
-- yet (the batch just committed), so that time-range reads skip them like older ranges.
-- Autovacuum would too (autosummarize), but only on its next round. Only the table's owner may
-- summarize, so this calls the owner's function (init.sql); it is a no-op without the index.
SELECT summarize_time_index()
