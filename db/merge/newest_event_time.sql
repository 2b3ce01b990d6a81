-- t for refresh_dashboard.sql: the newest event time of the batches committed so far.
SELECT max(max_event_time) FROM pipeline_batches
