-- The lateness state of each partition of the topic (processor/lateness.py): one past the last
-- offset committed, and the newest valid event time before it; plus the topic id it was read
-- under (a topic deleted and created again under the same name gets a new one).
SELECT kafka_partition, next_offset, max_event_time, topic_id
FROM partition_progress
WHERE kafka_topic = %(topic)s
