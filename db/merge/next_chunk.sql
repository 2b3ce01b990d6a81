-- Empty stage_events once a chunk's events are in raw_events, so that each chunk is sorted and
-- inserted once (not again with every later chunk of the batch). TRUNCATE inside the batch's
-- transaction is undone with it on rollback.
TRUNCATE stage_events
