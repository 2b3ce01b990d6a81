-- The batch ledger against the stored rows: every stored event, late event and rejection was
-- counted by exactly one committed batch, and every message read is a stored event, a
-- duplicate or a stored rejection (nothing lost, nothing counted twice).
WITH ledger AS (
    SELECT coalesce(sum(input_rows - duplicate_rows - rejected_rows), 0) AS events,
           coalesce(sum(late_rows), 0) AS late,
           coalesce(sum(rejected_rows), 0) AS rejected,
           coalesce(sum(input_rows), 0) AS messages,
           coalesce(sum(duplicate_rows), 0) AS duplicates
    FROM pipeline_batches
),
expected AS (
    SELECT * FROM (VALUES
        ('raw_events rows', (SELECT events FROM ledger)),
        ('raw_events late rows', (SELECT late FROM ledger)),
        ('rejected_events rows', (SELECT rejected FROM ledger)),
        ('messages read', (SELECT messages FROM ledger))
    ) AS v (check_name, value)
),
stored AS (
    SELECT * FROM (VALUES
        ('raw_events rows', (SELECT count(*) FROM raw_events)),
        ('raw_events late rows', (SELECT count(*) FROM raw_events WHERE is_late)),
        ('rejected_events rows', (SELECT count(*) FROM rejected_events)),
        ('messages read', (SELECT count(*) FROM raw_events) + (SELECT duplicates FROM ledger)
                          + (SELECT count(*) FROM rejected_events))
    ) AS v (check_name, value)
)
SELECT e.check_name AS key, to_jsonb(e) AS expected, to_jsonb(s) AS stored
FROM expected AS e JOIN stored AS s USING (check_name)
WHERE e.value IS DISTINCT FROM s.value
ORDER BY 1
