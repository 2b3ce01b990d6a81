-- The careful way to store a chunk's events, taken only when copying them straight into
-- raw_events met an event_id stored meanwhile by another writer (another processor on the same
-- schema): stage_events holds the chunk as raw_events would (one row per event_id, is_late
-- set); an event_id already in raw_events is not stored again and not counted again.
WITH inserted AS (
    INSERT INTO raw_events (
        event_id, event_type, event_time, user_id, session_id, product_id, page_url,
        user_agent, ip_address, device_type, price, quantity, order_id, category, referrer,
        country, is_late, kafka_partition, kafka_offset, kafka_timestamp, kafka_topic_id,
        processed_at
    )
    SELECT
        event_id, event_type, event_time, user_id, session_id, product_id, page_url,
        user_agent, ip_address, device_type, price, quantity, order_id, category, referrer,
        country, is_late, kafka_partition, kafka_offset, kafka_timestamp, kafka_topic_id, now()
    FROM stage_events
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id, event_type, event_time, user_id, session_id, product_id, device_type,
        price, quantity, order_id, category, is_late
)
INSERT INTO stage_new (
    event_id, event_type, event_time, hour, user_id, session_id, product_id, device_type, price,
    quantity, order_id, category, is_late
)
SELECT
    event_id, event_type, event_time, date_trunc('hour', event_time), user_id, session_id,
    product_id, device_type, price, quantity, order_id, category, is_late
FROM inserted
