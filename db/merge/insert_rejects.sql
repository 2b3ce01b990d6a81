-- Store the batch's rejected messages; a message already stored (the same position of the same
-- topic, by Kafka's topic id) is not stored again.
WITH inserted AS (
    INSERT INTO rejected_events (
        raw_payload, payload_bytes, payload_sha256, kafka_topic, kafka_topic_id, kafka_partition,
        kafka_offset, kafka_timestamp, reason, rejected_at
    )
    SELECT
        raw_payload, payload_bytes, payload_sha256, kafka_topic, kafka_topic_id, kafka_partition,
        kafka_offset, kafka_timestamp, reason, now()
    FROM stage_rejects
    ON CONFLICT (kafka_topic, kafka_topic_id, kafka_partition, kafka_offset) DO NOTHING
    RETURNING 1
)
SELECT count(*) FROM inserted
