-- Per-connection staging tables for one micro-batch, emptied at every commit or rollback.
-- stage_new holds the events the batch's transaction actually added to raw_events (the new
-- ones), stage_rejects its rejected messages; both are filled by COPY.

CREATE TEMP TABLE IF NOT EXISTS stage_rejects (
    raw_payload     text,
    payload_bytes   bigint,
    payload_sha256  text,
    kafka_topic     text,
    kafka_partition integer,
    kafka_offset    bigint,
    kafka_timestamp timestamptz,
    reason          text NOT NULL,
    kafka_topic_id  text NOT NULL
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
    is_bot      boolean NOT NULL,  -- its user agent is a known bot's (processor/bots.py)
    experiment  text,
    variant     text,
    is_late     boolean NOT NULL
) ON COMMIT DELETE ROWS;

-- What the chunk's sessions in an experiment contribute to experiment_metrics before
-- merge_sessions (sign -1) and after it (sign +1), one row each (experiment_sessions.sql):
-- their sum by key is the chunk's change (merge_experiments.sql).
CREATE TEMP TABLE IF NOT EXISTS stage_experiment_sessions (
    sign         integer NOT NULL,
    experiment   text NOT NULL,
    variant      text NOT NULL,
    window_start timestamptz NOT NULL,
    is_bot       boolean NOT NULL,
    converted    boolean NOT NULL,
    orders       bigint NOT NULL,
    revenue      numeric(38, 2) NOT NULL
) ON COMMIT DELETE ROWS;