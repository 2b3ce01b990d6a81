-- How many of the chunk's valid messages became new events, and how many of those are late.
SELECT count(*) AS new_events, count(*) FILTER (WHERE is_late) AS late_events FROM stage_new
