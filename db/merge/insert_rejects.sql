-- Store the batch's rejected messages; a message already stored (the same position of the same
-- topic, by Kafka's topic id) is not stored again. The batch holds the writer lock
-- (writer_lock.sql), so nobody stores one of these positions meanwhile.
WITH inserted AS (
    INSERT INTO rejected_events (
        raw_payload, payload_bytes, payload_sha256, kafka_topic, kafka_topic_id, kafka_partition,
        kafka_offset, kafka_timestamp, reason, rejected_at
    )
    SELECT
        s.raw_payload, s.payload_bytes, s.payload_sha256, s.kafka_topic, s.kafka_topic_id,
        s.kafka_partition, s.kafka_offset, s.kafka_timestamp, s.reason, now()
    FROM stage_rejects AS s
    WHERE NOT EXISTS (
        SELECT FROM rejected_events AS r
        WHERE r.kafka_topic = s.kafka_topic AND r.kafka_topic_id = s.kafka_topic_id
          AND r.kafka_partition = s.kafka_partition AND r.kafka_offset = s.kafka_offset
    )
    RETURNING 1
)
SELECT count(*) FROM inserted
