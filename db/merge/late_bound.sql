-- Events before this time are late: the newest event time of the batches committed so far,
-- minus the lateness bound (null before the first batch, when nothing is late). Late events
-- are stored (raw_events.is_late) but never aggregated.
SELECT max(max_event_time) - make_interval(secs => %(max_lateness_seconds)s) FROM pipeline_batches
