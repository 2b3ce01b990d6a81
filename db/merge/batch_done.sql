-- Has this micro-batch of this query already been committed?
SELECT EXISTS (
    SELECT 1 FROM pipeline_batches WHERE query_name = %(query_name)s AND batch_id = %(batch_id)s
)
