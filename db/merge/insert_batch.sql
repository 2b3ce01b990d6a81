-- The batch ledger row, committed in the same transaction as the batch's effects.
INSERT INTO pipeline_batches (
    query_name, batch_id, input_rows, valid_rows, rejected_rows, duplicate_rows, late_rows,
    max_event_time, started_at, committed_at, duration_ms, end_offsets
)
VALUES (
    %(query_name)s, %(batch_id)s, %(input_rows)s, %(valid_rows)s, %(rejected_rows)s,
    %(duplicate_rows)s, %(late_rows)s, %(max_event_time)s, %(started_at)s, clock_timestamp(),
    %(duration_ms)s, %(end_offsets)s
)
