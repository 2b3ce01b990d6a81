-- Per-connection staging tables for one micro-batch, emptied at every commit or rollback.
-- Filled by COPY inside the batch's transaction; never visible to other sessions.
CREATE TEMP TABLE IF NOT EXISTS stage_events (
    event_id        uuid NOT NULL,
    event_type      text NOT NULL,
    event_time      timestamptz NOT NULL,
    user_id         uuid NOT NULL,
    session_id      uuid NOT NULL,
    product_id      uuid,
    page_url        text NOT NULL,
    user_agent      text,
    ip_address      inet,
    device_type     text NOT NULL,
    price           numeric(12, 2),
    quantity        integer,
    order_id        uuid,
    category        text,
    referrer        text,
    country         text,
    is_late         boolean NOT NULL,
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

CREATE TEMP TABLE IF NOT EXISTS stage_sessions (
    session_id     uuid NOT NULL,
    user_id        uuid NOT NULL,
    device_type    text NOT NULL,
    first_event_id uuid NOT NULL,
    session_start  timestamptz NOT NULL,
    session_end    timestamptz NOT NULL,
    events         bigint NOT NULL,
    page_views     bigint NOT NULL,
    add_to_carts   bigint NOT NULL,
    purchases      bigint NOT NULL,
    revenue        numeric NOT NULL,
    order_ids      uuid[] NOT NULL
) ON COMMIT DELETE ROWS;

CREATE TEMP TABLE IF NOT EXISTS stage_products (
    window_start timestamptz NOT NULL,
    product_id   uuid NOT NULL,
    category     text,
    views        bigint NOT NULL,
    add_to_carts bigint NOT NULL,
    purchases    bigint NOT NULL,
    units_sold   bigint NOT NULL,
    revenue      numeric NOT NULL
) ON COMMIT DELETE ROWS;

CREATE TEMP TABLE IF NOT EXISTS stage_hours (
    window_start timestamptz NOT NULL,
    events       bigint NOT NULL,
    page_views   bigint NOT NULL,
    add_to_carts bigint NOT NULL,
    purchases    bigint NOT NULL,
    revenue      numeric NOT NULL,
    user_ids     uuid[] NOT NULL,
    session_ids  uuid[] NOT NULL,
    order_ids    uuid[] NOT NULL
) ON COMMIT DELETE ROWS;
