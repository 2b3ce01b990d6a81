-- Retention: today's and tomorrow's partitions of raw_events and rejected_events, and the
-- partitions older than PROCESSOR_RAW_RETENTION dropped (noted in retention_log). The owner's
-- function (init.sql): the processor may not create or drop tables itself.
SELECT keep_partitions(%(days)s)
