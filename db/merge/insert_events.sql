-- Store the batch's deduplicated valid events; an event_id already stored is a duplicate.
WITH inserted AS (
    INSERT INTO raw_events (
        event_id, event_type, event_time, user_id, session_id, product_id, page_url,
        user_agent, ip_address, device_type, price, quantity, order_id, category, referrer,
        country, is_late, kafka_partition, kafka_offset, kafka_timestamp, processed_at
    )
    SELECT
        event_id, event_type, event_time, user_id, session_id, product_id, page_url,
        user_agent, ip_address, device_type, price, quantity, order_id, category, referrer,
        country, is_late, kafka_partition, kafka_offset, kafka_timestamp, now()
    FROM stage_events
    ON CONFLICT (event_id) DO NOTHING
    RETURNING is_late
)
SELECT count(*) AS inserted, count(*) FILTER (WHERE is_late) AS late FROM inserted
