-- Advance one partition's lateness state in the batch's transaction (so a replayed batch finds
-- the state it had). A replay of offsets below next_offset never moves it back.
INSERT INTO partition_progress AS cur (
    kafka_topic, kafka_partition, next_offset, max_event_time, topic_id, updated_at
)
VALUES (
    %(topic)s, %(partition)s, %(next_offset)s, %(max_event_time)s, %(topic_id)s, now()
)
ON CONFLICT (kafka_topic, kafka_partition) DO UPDATE SET
    next_offset = greatest(cur.next_offset, excluded.next_offset),
    max_event_time = greatest(cur.max_event_time, excluded.max_event_time),
    topic_id = excluded.topic_id,
    updated_at = now()
