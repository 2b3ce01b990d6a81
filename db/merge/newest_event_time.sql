-- The newest event time of all committed batches: the reference for lateness.
SELECT max(max_event_time) FROM pipeline_batches
