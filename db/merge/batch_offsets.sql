-- A committed batch of this query with this id, and the end offsets it covered (null for
-- batches committed before offsets were recorded): no row means the batch is new.
SELECT end_offsets
FROM pipeline_batches
WHERE query_name = %(query_name)s AND batch_id = %(batch_id)s
