-- Store the batch's valid events, each event_id once, and keep the ones that are new.
-- Within the chunk the copy at the earliest Kafka position wins (across the chunks of a batch,
-- the first chunk to arrive; for copies of one event only the stored position differs); an
-- event_id already in raw_events (a duplicate from an earlier batch) is not stored again and
-- not counted again.
-- Late: event time before the newest event time of the batches committed so far, minus the
-- lateness bound. Late events are stored (is_late) but never aggregated.
WITH newest AS (
    SELECT max(max_event_time) - make_interval(secs => %(max_lateness_seconds)s) AS bound
    FROM pipeline_batches
),
inserted AS (
    INSERT INTO raw_events (
        event_id, event_type, event_time, user_id, session_id, product_id, page_url,
        user_agent, ip_address, device_type, price, quantity, order_id, category, referrer,
        country, is_late, kafka_partition, kafka_offset, kafka_timestamp, processed_at
    )
    SELECT DISTINCT ON (s.event_id)
        s.event_id, s.event_type, s.event_time, s.user_id, s.session_id, s.product_id,
        s.page_url, s.user_agent, s.ip_address::inet, s.device_type, s.price, s.quantity,
        s.order_id, s.category, s.referrer, s.country, coalesce(s.event_time < newest.bound, false),
        s.kafka_partition, s.kafka_offset, s.kafka_timestamp, now()
    FROM stage_events AS s CROSS JOIN newest
    ORDER BY s.event_id, s.kafka_partition, s.kafka_offset
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
