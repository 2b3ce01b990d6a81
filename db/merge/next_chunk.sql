-- Empty the staging tables once a chunk's events are stored and merged, so that each chunk is
-- read once (not again with every later chunk of the batch). TRUNCATE inside the batch's
-- transaction is undone with it on rollback.
TRUNCATE stage_new, stage_experiment_sessions
