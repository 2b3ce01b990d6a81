-- The batch ledger against the stored rows: every stored event, late event and rejection was
-- counted by exactly one committed batch, and every message read is a stored event, a
-- duplicate or a stored rejection (nothing lost, nothing counted twice). Rows that retention
-- dropped count as stored (retention_log). No event_id is stored twice: raw_events is
-- partitioned by day, so its primary key cannot say so, and the writer lock must.
WITH ledger AS (
    SELECT coalesce(sum(input_rows - duplicate_rows - rejected_rows), 0) AS events,
           coalesce(sum(late_rows), 0) AS late,
           coalesce(sum(rejected_rows), 0) AS rejected,
           coalesce(sum(input_rows), 0) AS messages,
           coalesce(sum(duplicate_rows), 0) AS duplicates
    FROM pipeline_batches
),
dropped AS (
    SELECT coalesce(sum(rows) FILTER (WHERE table_name = 'raw_events'), 0) AS events,
           coalesce(sum(late_rows) FILTER (WHERE table_name = 'raw_events'), 0) AS late,
           coalesce(sum(rows) FILTER (WHERE table_name = 'rejected_events'), 0) AS rejected
    FROM retention_log
),
raw AS (
    SELECT count(*) AS events, count(*) FILTER (WHERE is_late) AS late,
           count(*) - count(DISTINCT event_id) AS repeated
    FROM raw_events
),
expected AS (
    SELECT * FROM (VALUES
        ('raw_events rows', (SELECT events FROM ledger)),
        ('raw_events late rows', (SELECT late FROM ledger)),
        ('rejected_events rows', (SELECT rejected FROM ledger)),
        ('messages read', (SELECT messages FROM ledger)),
        ('raw_events event_ids stored twice', 0)
    ) AS v (check_name, value)
),
stored AS (
    SELECT * FROM (VALUES
        ('raw_events rows', (SELECT raw.events + dropped.events FROM raw, dropped)),
        ('raw_events late rows', (SELECT raw.late + dropped.late FROM raw, dropped)),
        ('rejected_events rows',
         (SELECT count(*) FROM rejected_events) + (SELECT rejected FROM dropped)),
        ('messages read', (SELECT raw.events + dropped.events + dropped.rejected FROM raw, dropped)
                          + (SELECT duplicates FROM ledger)
                          + (SELECT count(*) FROM rejected_events)),
        ('raw_events event_ids stored twice', (SELECT repeated FROM raw))
    ) AS v (check_name, value)
)
SELECT e.check_name AS key, to_jsonb(e) AS expected, to_jsonb(s) AS stored
FROM expected AS e JOIN stored AS s USING (check_name)
WHERE e.value IS DISTINCT FROM s.value
ORDER BY 1
