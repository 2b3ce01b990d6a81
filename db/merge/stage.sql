-- Per-connection staging tables for one micro-batch, emptied at every commit or rollback.
-- stage_events and stage_rejects are filled by COPY inside the batch's transaction;
-- stage_new holds the events that transaction actually added to raw_events (the new ones).
CREATE TEMP TABLE IF NOT EXISTS stage_events (
    event_id        uuid NOT NULL,
    event_type      text NOT NULL,
    event_time      timestamptz NOT NULL,
    user_id         uuid NOT NULL,
    session_id      uuid NOT NULL,
    product_id      uuid,
    page_url        text NOT NULL,
    user_agent      text,
    ip_address      text,  -- cast to inet on insert (COPY sends it as text)
    device_type     text NOT NULL,
    price           numeric(12, 2),
    quantity        integer,
    order_id        uuid,
    category        text,
    referrer        text,
    country         text,
    kafka_partition integer NOT NULL,
    kafka_offset    bigint NOT NULL,
    kafka_timestamp timestamptz
) ON COMMIT DELETE ROWS;

CREATE TEMP TABLE IF NOT EXISTS stage_rejects (
    raw_payload     text,
    kafka_topic     text,
    kafka_partition integer,
    kafka_offset    bigint,
    kafka_timestamp timestamptz,
    reason          text NOT NULL
) ON COMMIT DELETE ROWS;

-- Only the columns the merges read, and the event's hour, so that each merge scans narrow rows.
CREATE TEMP TABLE IF NOT EXISTS stage_new (
    event_id    uuid NOT NULL,
    event_type  text NOT NULL,
    event_time  timestamptz NOT NULL,
    hour        timestamptz NOT NULL,
    user_id     uuid NOT NULL,
    session_id  uuid NOT NULL,
    product_id  uuid,
    device_type text NOT NULL,
    price       numeric(12, 2),
    quantity    integer,
    order_id    uuid,
    category    text,
    is_late     boolean NOT NULL
) ON COMMIT DELETE ROWS;
