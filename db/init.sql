-- Schema of the clickstream analytics store (docs/design.md §4).
-- Applied by start_infrastructure.sh (native) or by the PostgreSQL image on first start (Docker),
-- inside the target database, after db/roles.sql has made the roles. Idempotent: safe to apply
-- again. Everything here is created by, and owned by, the setup role (`owner`): a superuser
-- session becomes it with SET ROLE below. The processor's role (`runtime_user`) and the reader
-- (`readonly_user`) get privileges on the schema's tables, never ownership.
-- psql variables (set with -v): schema, owner, runtime_user, readonly_user, and scratch=1 for
-- a throwaway schema (tests). Defaults below.
-- Table names are unqualified: every client sets search_path to the configured schema.

\set ON_ERROR_STOP on
\if :{?schema}
\else
  \set schema analytics
\endif
\if :{?owner}
\else
  \set owner clickstream_owner
\endif
\if :{?runtime_user}
\else
  \set runtime_user clickstream
\endif
\if :{?readonly_user}
\else
  \set readonly_user grafana_reader
\endif

SELECT format('SET ROLE %I', :'owner') \gexec
CREATE SCHEMA IF NOT EXISTS :"schema";
SET search_path TO :"schema";

-- Every valid event once. Event fields, then where it came from.
CREATE TABLE IF NOT EXISTS raw_events (
    event_id        uuid PRIMARY KEY,
    event_type      text NOT NULL CHECK (event_type IN ('page_view', 'add_to_cart', 'purchase')),
    event_time      timestamptz NOT NULL,
    user_id         uuid NOT NULL,
    session_id      uuid NOT NULL,
    product_id      uuid,
    page_url        text NOT NULL,
    user_agent      text,
    ip_address      inet,
    device_type     text NOT NULL CHECK (device_type IN ('desktop', 'mobile', 'tablet')),
    price           numeric(12, 2),
    quantity        integer,
    order_id        uuid,
    category        text,
    referrer        text,
    country         text,
    is_late         boolean NOT NULL DEFAULT false,
    kafka_partition integer NOT NULL,
    kafka_offset    bigint NOT NULL,
    kafka_timestamp timestamptz,
    processed_at    timestamptz NOT NULL DEFAULT now()
);
-- Kafka's id of the topic the event was read from ('' before it was recorded): after the
-- topic is deleted and created again, verify --from-topic takes the earlier topic's events
-- from here, since Kafka no longer has them. A constant default adds no rewrite.
ALTER TABLE raw_events ADD COLUMN IF NOT EXISTS kafka_topic_id text NOT NULL DEFAULT '';
-- Time ranges over raw_events (dashboard panels, the last-minute KPI) use a BRIN index: rows
-- arrive in about event-time order, so block ranges stay narrow, and keeping it up costs a
-- micro-batch's insert almost nothing (a B-tree on event_time cost about a third of it).
-- autosummarize: autovacuum summarizes each block range once it fills.
DROP INDEX IF EXISTS raw_events_event_time_idx;
CREATE INDEX IF NOT EXISTS raw_events_event_time_brin ON raw_events USING brin (event_time)
    WITH (pages_per_range = 32, autosummarize = on);
-- No index on session_id: nothing reads raw_events by session on the hot path, and every
-- index costs each micro-batch's insert (verify recomputes sessions with a full scan anyway).
DROP INDEX IF EXISTS raw_events_session_idx;
-- The dashboard's revenue and orders over the last hour read only purchases.
CREATE INDEX IF NOT EXISTS raw_events_purchase_time_idx ON raw_events (event_time)
    WHERE event_type = 'purchase';

-- One row per session_id.
CREATE TABLE IF NOT EXISTS user_sessions (
    session_id       uuid PRIMARY KEY,
    user_id          uuid NOT NULL,
    session_start    timestamptz NOT NULL,
    session_end      timestamptz NOT NULL,
    duration_seconds double precision NOT NULL,
    events           bigint NOT NULL,
    page_views       bigint NOT NULL,
    add_to_carts     bigint NOT NULL,
    purchases        bigint NOT NULL,
    orders           bigint NOT NULL,
    revenue          numeric(38, 2) NOT NULL,
    converted        boolean NOT NULL,
    cart_abandoned   boolean NOT NULL,
    is_bounce        boolean NOT NULL,
    device_type      text NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    -- Internal: the session's first event (earliest event_time, then smallest event_id), whose
    -- user_id and device_type the row carries; kept so that merges in any order agree.
    first_event_id   uuid NOT NULL
);
ALTER TABLE user_sessions ADD COLUMN IF NOT EXISTS first_event_id uuid NOT NULL;
CREATE INDEX IF NOT EXISTS user_sessions_end_idx ON user_sessions (session_end);

-- One row per (hour, product).
CREATE TABLE IF NOT EXISTS product_metrics (
    window_start  timestamptz NOT NULL,
    product_id    uuid NOT NULL,
    category      text,
    views         bigint NOT NULL,
    add_to_carts  bigint NOT NULL,
    purchases     bigint NOT NULL,
    units_sold    bigint NOT NULL,
    revenue       numeric(38, 2) NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (window_start, product_id)
);

-- One row per hour.
CREATE TABLE IF NOT EXISTS hourly_metrics (
    window_start     timestamptz PRIMARY KEY,
    events           bigint NOT NULL,
    page_views       bigint NOT NULL,
    add_to_carts     bigint NOT NULL,
    purchases        bigint NOT NULL,
    orders           bigint NOT NULL,
    revenue          numeric(38, 2) NOT NULL,
    unique_users     bigint NOT NULL,
    unique_sessions  bigint NOT NULL,
    conversion_rate  double precision,
    avg_order_value  numeric(38, 2),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- No sum of valid lines can overflow an aggregate: a line is at most 1,000,000 x 10,000
-- (parse.py), so numeric(38, 2) holds more lines than a bigint can count. Older schemas are
-- widened in place (a no-op once done).
ALTER TABLE user_sessions
    ALTER COLUMN events TYPE bigint, ALTER COLUMN page_views TYPE bigint,
    ALTER COLUMN add_to_carts TYPE bigint, ALTER COLUMN purchases TYPE bigint,
    ALTER COLUMN orders TYPE bigint, ALTER COLUMN revenue TYPE numeric(38, 2);
ALTER TABLE product_metrics
    ALTER COLUMN views TYPE bigint, ALTER COLUMN add_to_carts TYPE bigint,
    ALTER COLUMN purchases TYPE bigint, ALTER COLUMN units_sold TYPE bigint,
    ALTER COLUMN revenue TYPE numeric(38, 2);
ALTER TABLE hourly_metrics
    ALTER COLUMN revenue TYPE numeric(38, 2), ALTER COLUMN avg_order_value TYPE numeric(38, 2);

-- One row per KPI.
CREATE TABLE IF NOT EXISTS dashboard_metrics (
    metric_name   text PRIMARY KEY,
    metric_value  double precision,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per message that is not a valid event.
CREATE TABLE IF NOT EXISTS rejected_events (
    id              bigserial PRIMARY KEY,
    -- A bounded prefix (PROCESSOR_REJECT_PAYLOAD_BYTES) of the message as received, with the
    -- size and SHA-256 of the whole, so that a 10 MB message costs kilobytes here.
    raw_payload     text,
    payload_bytes   bigint,
    payload_sha256  text,
    kafka_topic     text,
    kafka_partition integer,
    kafka_offset    bigint,
    kafka_timestamp timestamptz,
    reason          text NOT NULL,
    rejected_at     timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE rejected_events ADD COLUMN IF NOT EXISTS payload_bytes bigint;
ALTER TABLE rejected_events ADD COLUMN IF NOT EXISTS payload_sha256 text;
-- Kafka's id of the topic the message was read from: a topic deleted and created again under
-- the same name reuses offsets, and its messages are other messages.
ALTER TABLE rejected_events ADD COLUMN IF NOT EXISTS kafka_topic_id text NOT NULL DEFAULT '';
-- A message is rejected once, even if its batch is read again from a fresh checkpoint.
DROP INDEX IF EXISTS rejected_events_position_idx;
CREATE UNIQUE INDEX IF NOT EXISTS rejected_events_message_idx
    ON rejected_events (kafka_topic, kafka_topic_id, kafka_partition, kafka_offset);

-- The batch ledger: one row per committed micro-batch.
CREATE TABLE IF NOT EXISTS pipeline_batches (
    query_name      text NOT NULL,
    batch_id        bigint NOT NULL,
    input_rows      bigint NOT NULL,
    valid_rows      bigint NOT NULL,
    rejected_rows   bigint NOT NULL,
    duplicate_rows  bigint NOT NULL,
    late_rows       bigint NOT NULL,
    max_event_time  timestamptz,
    started_at      timestamptz NOT NULL,
    committed_at    timestamptz NOT NULL DEFAULT now(),
    duration_ms     bigint NOT NULL,
    PRIMARY KEY (query_name, batch_id)
);

-- Lateness state per partition (processor/lateness.py): the next offset to read and the newest
-- valid event time before it, advanced in each batch's transaction.
CREATE TABLE IF NOT EXISTS partition_progress (
    kafka_topic     text NOT NULL,
    kafka_partition integer NOT NULL,
    next_offset     bigint NOT NULL,
    max_event_time  timestamptz,
    topic_id        text,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kafka_topic, kafka_partition)
);

-- Data the processor could not read, one row per gap found (never silent): kind is
-- `offsets_skipped` (first_missing <= offset < next_seen never read: aged out of retention
-- before it was read) or `topic_recreated` (the topic got a new id under the same name).
CREATE TABLE IF NOT EXISTS data_gaps (
    id              bigserial PRIMARY KEY,
    kafka_topic     text NOT NULL,
    kafka_partition integer,
    first_missing   bigint,
    next_seen       bigint,
    kind            text NOT NULL,
    query_name      text,
    batch_id        bigint,
    detected_at     timestamptz NOT NULL DEFAULT now()
);

-- The end offset of every partition a batch covered ({"0": 1200, "1": 980}, Spark's offset
-- log): a batch id seen again with other offsets is new data, never skipped.
ALTER TABLE pipeline_batches ADD COLUMN IF NOT EXISTS end_offsets jsonb;

-- Internal helper tables of the processor (not for dashboards): the exact sets behind the
-- distinct counts, so each micro-batch adds only ids never seen before for that hour or session.
-- hourly_metrics.unique_users / unique_sessions / orders = rows per window_start in
-- hourly_users / hourly_sessions / hourly_orders; user_sessions.orders = rows per session_id in
-- session_orders. Late events are never added.
CREATE TABLE IF NOT EXISTS hourly_users (
    window_start timestamptz NOT NULL,
    user_id      uuid NOT NULL,
    PRIMARY KEY (window_start, user_id)
);
CREATE TABLE IF NOT EXISTS hourly_sessions (
    window_start timestamptz NOT NULL,
    session_id   uuid NOT NULL,
    PRIMARY KEY (window_start, session_id)
);
CREATE TABLE IF NOT EXISTS hourly_orders (
    window_start timestamptz NOT NULL,
    order_id     uuid NOT NULL,
    PRIMARY KEY (window_start, order_id)
);
CREATE TABLE IF NOT EXISTS session_orders (
    session_id uuid NOT NULL,
    order_id   uuid NOT NULL,
    PRIMARY KEY (session_id, order_id)
);

-- The BRIN index is summarized after each batch (db/merge/summarize_time_index.sql), which
-- only the table's owner may do: the processor calls this owner's function for it.
SELECT format($f$
CREATE OR REPLACE FUNCTION summarize_time_index() RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = %I, pg_catalog, pg_temp AS $b$
    SELECT coalesce(max(brin_summarize_new_values(c.oid)), 0)
    FROM pg_class AS c
    WHERE c.oid = to_regclass('raw_events_event_time_brin')
$b$$f$, :'schema') \gexec
REVOKE ALL ON FUNCTION summarize_time_index() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION summarize_time_index() TO :"runtime_user";

-- Privileges, never ownership: the processor reads and writes the tables (and the sequences
-- behind their ids); the reader only reads. Tables made later get the same (default privileges).
GRANT USAGE ON SCHEMA :"schema" TO :"runtime_user", :"readonly_user";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA :"schema" TO :"runtime_user";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA :"schema" TO :"runtime_user";
GRANT SELECT ON ALL TABLES IN SCHEMA :"schema" TO :"readonly_user";
ALTER DEFAULT PRIVILEGES IN SCHEMA :"schema"
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"runtime_user";
ALTER DEFAULT PRIVILEGES IN SCHEMA :"schema" GRANT USAGE, SELECT ON SEQUENCES TO :"runtime_user";
ALTER DEFAULT PRIVILEGES IN SCHEMA :"schema" GRANT SELECT ON TABLES TO :"readonly_user";
RESET ROLE;
