-- One writer at a time per schema: a batch holds this lock from before it looks up which of its
-- event ids and Kafka positions are stored until it commits, so no two batches (of two
-- processors on one schema) store one event id or one rejected message. raw_events and
-- rejected_events are partitioned by day, and a partitioned table's unique keys must hold the
-- day, so this rule is what keeps event_id unique. Released at commit or rollback.
SELECT pg_advisory_xact_lock(hashtextextended('clickstream writer ' || current_schema(), 0))
