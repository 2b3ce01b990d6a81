-- A record of data the processor could not read: offsets skipped (aged out of retention, or
-- jumped over), or a topic recreated under the same name. Dashboards show the count.
INSERT INTO data_gaps (
    kafka_topic, kafka_partition, first_missing, next_seen, kind, query_name, batch_id
)
VALUES (
    %(topic)s, %(partition)s, %(first_missing)s, %(next_seen)s, %(kind)s, %(query_name)s,
    %(batch_id)s
)
