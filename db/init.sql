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

-- An older schema's raw_events and rejected_events were plain tables: each is renamed here and
-- becomes, as it is, the first partition of its new partitioned table (below). Its unique keys
-- stay (as every partition's, below); its other indexes go, and the partitioned table's are
-- built on it once, when it is attached.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['raw_events', 'rejected_events'] LOOP
        CONTINUE WHEN NOT EXISTS (
            SELECT FROM pg_class WHERE oid = to_regclass(t) AND relkind = 'r');
        EXECUTE format('ALTER TABLE %I RENAME TO %I', t, t || '_unpartitioned');
        EXECUTE format('ALTER TABLE %I ADD COLUMN IF NOT EXISTS kafka_topic_id text NOT NULL '
                       'DEFAULT %L', t || '_unpartitioned', '');
        IF t = 'raw_events' THEN
            ALTER TABLE raw_events_unpartitioned ADD COLUMN IF NOT EXISTS experiment text,
                ADD COLUMN IF NOT EXISTS variant text;
            DROP INDEX IF EXISTS raw_events_event_time_idx, raw_events_event_time_brin,
                raw_events_session_idx, raw_events_purchase_time_idx;
        ELSE
            DROP INDEX IF EXISTS rejected_events_position_idx;
        END IF;
    END LOOP;
    IF to_regclass('rejected_events_unpartitioned') IS NOT NULL
       AND NOT EXISTS (SELECT FROM pg_inherits
                       WHERE inhrelid = to_regclass('rejected_events_unpartitioned')) THEN
        ALTER TABLE rejected_events_unpartitioned
            ADD COLUMN IF NOT EXISTS payload_bytes bigint,
            ADD COLUMN IF NOT EXISTS payload_sha256 text;
        ALTER SEQUENCE IF EXISTS rejected_events_id_seq
            RENAME TO rejected_events_unpartitioned_id_seq;
    END IF;
END
$$;

-- Every valid event once. Event fields, then where it came from.
-- Partitioned by the UTC day it was stored (processed_at), so that PROCESSOR_RAW_RETENTION
-- drops whole days (keep_partitions() below). A unique key of a partitioned table must hold the
-- partition key, so event_id is unique within each day's partition by its own unique index
-- (made with the partition), and across days by the writers' rule: every batch holds its
-- schema's writer lock (db/merge/writer_lock.sql) while it looks up which of its ids are
-- stored (in every partition) and stores the others, so no two batches store one id.
CREATE TABLE IF NOT EXISTS raw_events (
    event_id        uuid NOT NULL,
    -- Named as an older schema's plain table named them, which an upgrade attaches (below).
    event_type      text NOT NULL CONSTRAINT raw_events_event_type_check
                    CHECK (event_type IN ('page_view', 'add_to_cart', 'purchase')),
    event_time      timestamptz NOT NULL,
    user_id         uuid NOT NULL,
    session_id      uuid NOT NULL,
    product_id      uuid,
    page_url        text NOT NULL,
    user_agent      text,
    ip_address      inet,
    device_type     text NOT NULL CONSTRAINT raw_events_device_type_check
                    CHECK (device_type IN ('desktop', 'mobile', 'tablet')),
    price           numeric(12, 2),
    quantity        integer,
    order_id        uuid,
    category        text,
    referrer        text,
    country         text,
    -- The A/B experiment and variant of the event's session (producer scenario ab-test).
    experiment      text,
    variant         text,
    is_late         boolean NOT NULL DEFAULT false,
    kafka_partition integer NOT NULL,
    kafka_offset    bigint NOT NULL,
    kafka_timestamp timestamptz,
    processed_at    timestamptz NOT NULL DEFAULT now(),
    -- Kafka's id of the topic the event was read from ('' before it was recorded): after the
    -- topic is deleted and created again, verify --from-topic takes the earlier topic's events
    -- from here, since Kafka no longer has them.
    kafka_topic_id  text NOT NULL DEFAULT ''
) PARTITION BY RANGE (processed_at);
-- An older schema's raw_events gets them in place (every partition with it; no rewrite).
ALTER TABLE raw_events ADD COLUMN IF NOT EXISTS experiment text,
    ADD COLUMN IF NOT EXISTS variant text;
-- Time ranges over raw_events (dashboard panels, the last-minute KPI) use a BRIN index: rows
-- arrive in about event-time order, so block ranges stay narrow, and keeping it up costs a
-- micro-batch's insert almost nothing (a B-tree on event_time cost about a third of it).
-- autosummarize: autovacuum summarizes each block range once it fills.
CREATE INDEX IF NOT EXISTS raw_events_event_time_brin ON raw_events USING brin (event_time)
    WITH (pages_per_range = 32, autosummarize = on);
-- No index on session_id: nothing reads raw_events by session on the hot path, and every
-- index costs each micro-batch's insert (verify recomputes sessions with a full scan anyway).
-- The dashboard's revenue and orders over the last hour read only purchases.
CREATE INDEX IF NOT EXISTS raw_events_purchase_time_idx ON raw_events (event_time)
    WHERE event_type = 'purchase';

-- Known bots (processor/bots.py KNOWN_BOT_PATTERNS, the one list; tests/processor/test_bots.py
-- fails when this copy differs, and `python -m processor.bots` prints it): a user agent that
-- contains one of the patterns, with A-Z folded to a-z (ASCII only, as the Python side does).
CREATE OR REPLACE FUNCTION is_bot_agent(user_agent text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
-- One expression, which PostgreSQL inlines into the calling query. lower() under the "C"
-- collation folds A-Z only (0.5 us; translate() of the alphabet took 24 us), then one match of
-- the patterns' alternation, compiled once: 8 us a call in all, where strpos() over an array of
-- the patterns took 32 us (measured on 100,000 browser agents). No user agent is no bot.
RETURN coalesce(
    lower(user_agent COLLATE "C") ~ (
        'googlebot|bingbot|ahrefsbot|semrushbot|yandexbot|baiduspider|duckduckbot|applebot|'
        'petalbot|gptbot|ccbot|facebookexternalhit|slurp|python-requests|python-urllib|curl/|'
        'wget|go-http-client|scrapy|headlesschrome|phantomjs|bot|crawl|spider'),
    false);

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
    first_event_id   uuid NOT NULL,
    -- The first event's experiment and variant (null outside an A/B test), and whether its
    -- user agent is a known bot's (is_bot_agent above).
    experiment       text,
    variant          text,
    is_bot           boolean NOT NULL DEFAULT false
);
ALTER TABLE user_sessions ADD COLUMN IF NOT EXISTS first_event_id uuid NOT NULL;
CREATE INDEX IF NOT EXISTS user_sessions_end_idx ON user_sessions (session_end);
-- An older schema's sessions: experiment and variant stay null (raw_events had no column for
-- them), is_bot comes from the first event where raw_events still holds it.
DO $$
BEGIN
    ALTER TABLE user_sessions ADD COLUMN IF NOT EXISTS experiment text,
        ADD COLUMN IF NOT EXISTS variant text;
    IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'user_sessions'::regclass
                   AND attname = 'is_bot' AND NOT attisdropped) THEN
        ALTER TABLE user_sessions ADD COLUMN is_bot boolean NOT NULL DEFAULT false;
        UPDATE user_sessions AS s SET is_bot = true
        FROM raw_events AS r
        WHERE r.event_id = s.first_event_id AND is_bot_agent(r.user_agent);
    END IF;
END
$$;
-- The KPIs leave bot sessions out (refresh_dashboard.sql): a small index of them.
CREATE INDEX IF NOT EXISTS user_sessions_bot_idx ON user_sessions (session_id) WHERE is_bot;
-- experiment_metrics' merge looks the chunk's sessions in an experiment up by id: a small
-- index while few sessions are in one.
CREATE INDEX IF NOT EXISTS user_sessions_experiment_id_idx ON user_sessions (session_id)
    WHERE experiment IS NOT NULL AND variant IS NOT NULL;

-- One row per (experiment, variant, hour): the sessions of the variant that started in that
-- hour (UTC), with all their orders and revenue, whenever placed. Bot sessions (is_bot) are
-- counted apart, in bot_sessions only. A session is in an experiment when its first event
-- names both an experiment and a variant. db/merge/merge_experiments.sql adds what a chunk
-- changed, key by key.
CREATE TABLE IF NOT EXISTS experiment_metrics (
    experiment          text NOT NULL,
    variant             text NOT NULL,
    window_start        timestamptz NOT NULL,
    sessions            bigint NOT NULL,
    converted_sessions  bigint NOT NULL,
    orders              bigint NOT NULL,
    revenue             numeric(38, 2) NOT NULL,
    bot_sessions        bigint NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (experiment, variant, window_start)
);

-- Each variant's results over the sessions that started in [t0, t1) (whole hours: from t0's
-- hour on), against the experiment's control: the variant named `control`, else `A` (either
-- case), else the first variant by name (byte order). Bot sessions are left out. z = 1.959964,
-- the 95% two-sided normal quantile. With p = converted / sessions of a variant, c = control:
--   conversion_ci_*   p ± z·√(p(1−p)/n)                       (Wald)
--   difference        p − p_c, with difference_ci_* = ± z·√(p(1−p)/n + p_c(1−p_c)/n_c): the
--                     two-proportion z interval (unpooled); z_score uses the pooled rate
--                     p̄ = (x + x_c)/(n + n_c): (p − p_c) / √(p̄(1−p̄)(1/n + 1/n_c))
--   lift              p / p_c − 1, the relative lift; lift_ci_* = exp(ln(p/p_c) ± z·√(1/x − 1/n
--                     + 1/x_c − 1/n_c)) − 1 (the log ratio's interval, Katz), null while either
--                     variant has no converted session
-- The control's own row has difference and lift 0 and no intervals for them.
CREATE OR REPLACE FUNCTION experiment_results_between(t0 timestamptz, t1 timestamptz)
RETURNS TABLE (
    experiment text, variant text, control_variant text, is_control boolean,
    sessions bigint, converted_sessions bigint, orders bigint, revenue numeric,
    bot_sessions bigint, conversion_rate double precision,
    conversion_ci_low double precision, conversion_ci_high double precision,
    revenue_per_session numeric, difference double precision,
    difference_ci_low double precision, difference_ci_high double precision,
    z_score double precision, lift double precision,
    lift_ci_low double precision, lift_ci_high double precision
)
LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    WITH totals AS (
        SELECT m.experiment, m.variant, sum(m.sessions)::bigint AS n,
               sum(m.converted_sessions)::bigint AS x, sum(m.orders)::bigint AS orders,
               sum(m.revenue) AS revenue, sum(m.bot_sessions)::bigint AS bots
        FROM experiment_metrics AS m
        WHERE m.window_start >= date_trunc('hour', t0, 'UTC') AND m.window_start < t1
        GROUP BY m.experiment, m.variant
    ),
    rates AS (
        SELECT t.*, t.x::double precision / nullif(t.n, 0) AS p FROM totals AS t
    ),
    control AS (
        SELECT DISTINCT ON (r.experiment) r.experiment, r.variant AS c, r.n AS n_c,
               r.x AS x_c, r.p AS p_c
        FROM rates AS r
        ORDER BY r.experiment, lower(r.variant) = 'control' DESC, lower(r.variant) = 'a' DESC,
                 r.variant COLLATE "C"
    ),
    pairs AS (
        SELECT r.*, c.c, c.n_c, c.x_c, c.p_c, r.variant = c.c AS is_c,
               1.959964::double precision AS z,
               (r.x + c.x_c)::double precision / nullif(r.n + c.n_c, 0) AS pooled
        FROM rates AS r JOIN control AS c USING (experiment)
    )
    SELECT experiment, variant, c, is_c, n, x, orders, revenue, bots, p,
           p - z * sqrt(p * (1 - p) / n), p + z * sqrt(p * (1 - p) / n),
           round(revenue / nullif(n, 0), 2),
           CASE WHEN is_c THEN 0 ELSE p - p_c END,
           CASE WHEN NOT is_c
                THEN p - p_c - z * sqrt(p * (1 - p) / n + p_c * (1 - p_c) / n_c) END,
           CASE WHEN NOT is_c
                THEN p - p_c + z * sqrt(p * (1 - p) / n + p_c * (1 - p_c) / n_c) END,
           CASE WHEN NOT is_c
                THEN (p - p_c) / nullif(sqrt(pooled * (1 - pooled)
                                             * (1.0 / nullif(n, 0) + 1.0 / nullif(n_c, 0))), 0)
                END,
           CASE WHEN is_c THEN 0 ELSE p / nullif(p_c, 0) - 1 END,
           CASE WHEN NOT is_c AND x > 0 AND x_c > 0
                THEN exp(ln(p / p_c) - z * sqrt(1.0 / x - 1.0 / n + 1.0 / x_c - 1.0 / n_c)) - 1
                END,
           CASE WHEN NOT is_c AND x > 0 AND x_c > 0
                THEN exp(ln(p / p_c) + z * sqrt(1.0 / x - 1.0 / n + 1.0 / x_c - 1.0 / n_c)) - 1
                END
    FROM pairs
    ORDER BY experiment, variant COLLATE "C";
END;

-- The whole run's results, one row per (experiment, variant): see experiment_results_between.
CREATE OR REPLACE VIEW experiment_results AS
    SELECT * FROM experiment_results_between('-infinity', 'infinity');

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

-- One row per message that is not a valid event; partitioned by the UTC day it was stored,
-- like raw_events.
CREATE TABLE IF NOT EXISTS rejected_events (
    id              bigserial NOT NULL,  -- unique: one sequence for every partition
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
    rejected_at     timestamptz NOT NULL DEFAULT now(),
    -- Kafka's id of the topic the message was read from: a topic deleted and created again
    -- under the same name reuses offsets, and its messages are other messages.
    kafka_topic_id  text NOT NULL DEFAULT ''
) PARTITION BY RANGE (rejected_at);
-- A message is rejected once, even if its batch is read again from a fresh checkpoint: each
-- partition has a unique index on the position (made with it), and a batch looks its
-- positions up in every partition under the writer lock (insert_rejects.sql).

-- What retention dropped (keep_partitions() below), one row per partition: enough for verify
-- to add the dropped rows to its totals and to leave out the hours, products and sessions
-- whose events are no longer all stored.
CREATE TABLE IF NOT EXISTS retention_log (
    id               bigserial PRIMARY KEY,
    table_name       text NOT NULL,  -- raw_events | rejected_events
    partition_name   text NOT NULL,
    stored_before    timestamptz NOT NULL,  -- the partition held rows stored before this
    rows             bigint NOT NULL,
    late_rows        bigint NOT NULL DEFAULT 0,
    page_views       bigint NOT NULL DEFAULT 0,
    add_to_carts     bigint NOT NULL DEFAULT 0,
    purchases        bigint NOT NULL DEFAULT 0,
    revenue          numeric(38, 2) NOT NULL DEFAULT 0,
    first_event_time timestamptz,
    last_event_time  timestamptz,
    -- The highest Kafka offset dropped per topic id and partition: {"<topic id>:<p>": offset}.
    last_offsets     jsonb NOT NULL DEFAULT '{}',
    dropped_at       timestamptz NOT NULL DEFAULT now()
);

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
-- only the table's owner may do: the processor calls this owner's function for it. The index
-- is partitioned like its table: each day's partition has its own.
SELECT format($f$
CREATE OR REPLACE FUNCTION summarize_time_index() RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = %I, pg_catalog, pg_temp AS $b$
    SELECT coalesce(sum(brin_summarize_new_values(t.relid)), 0)::integer
    FROM pg_partition_tree(to_regclass('raw_events_event_time_brin')) AS t
    WHERE t.isleaf
$b$$f$, :'schema') \gexec
REVOKE ALL ON FUNCTION summarize_time_index() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION summarize_time_index() TO :"runtime_user";

-- Retention (PROCESSOR_RAW_RETENTION, in days; 0 keeps everything), run by the processor at
-- start and once a day (db/merge/keep_partitions.sql), as this owner's function: the processor
-- may neither create nor drop tables. For raw_events and rejected_events it makes the
-- partitions of today and tomorrow (UTC) if they are missing, each with its unique index (the
-- event id; the Kafka position of a rejected message), then drops every partition whose
-- rows were all stored more than retention_days ago, noting each in retention_log first.
-- Returns the number of partitions dropped.
CREATE OR REPLACE FUNCTION keep_partitions(retention_days integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    today   timestamptz := date_trunc('day', now(), 'UTC');
    parent  text;
    day     timestamptz;
    name    text;
    part    record;
    dropped integer := 0;
BEGIN
    FOREACH parent IN ARRAY ARRAY['raw_events', 'rejected_events'] LOOP
        FOREACH day IN ARRAY ARRAY[today, today + interval '1 day'] LOOP
            name := parent || '_' || to_char(day AT TIME ZONE 'UTC', 'YYYYMMDD');
            BEGIN
                EXECUTE format(
                    'CREATE TABLE IF NOT EXISTS %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                    name, parent, day, day + interval '1 day');
            EXCEPTION WHEN invalid_object_definition THEN
                CONTINUE;  -- an upgraded schema's first partition covers the day already
            END;
            EXECUTE format('CREATE UNIQUE INDEX IF NOT EXISTS %I ON %I (%s)', name || '_key', name,
                           CASE parent WHEN 'raw_events' THEN 'event_id'
                           ELSE 'kafka_topic, kafka_topic_id, kafka_partition, kafka_offset' END);
        END LOOP;
        CONTINUE WHEN coalesce(retention_days, 0) <= 0;
        FOR part IN
            SELECT c.relname, b.upper
            FROM pg_inherits AS i
            JOIN pg_class AS c ON c.oid = i.inhrelid
            CROSS JOIN LATERAL (
                SELECT substring(pg_get_expr(c.relpartbound, c.oid)
                                 FROM 'TO \(''([^'']+)''\)')::timestamptz AS upper
            ) AS b
            WHERE i.inhparent = parent::regclass
              AND b.upper <= now() - make_interval(days => retention_days)
            ORDER BY b.upper
        LOOP
            IF parent = 'raw_events' THEN
                EXECUTE format($q$
                    INSERT INTO retention_log (
                        table_name, partition_name, stored_before, rows, late_rows, page_views,
                        add_to_carts, purchases, revenue, first_event_time, last_event_time,
                        last_offsets)
                    SELECT %L, %L, %L, count(*), count(*) FILTER (WHERE is_late),
                        count(*) FILTER (WHERE event_type = 'page_view'),
                        count(*) FILTER (WHERE event_type = 'add_to_cart'),
                        count(*) FILTER (WHERE event_type = 'purchase'),
                        coalesce(sum(price * quantity) FILTER (WHERE event_type = 'purchase'), 0),
                        min(event_time), max(event_time),
                        coalesce((SELECT jsonb_object_agg(k, o) FROM (
                            SELECT kafka_topic_id || ':' || kafka_partition AS k,
                                   max(kafka_offset) AS o
                            FROM %I GROUP BY 1) AS m), '{}')
                    FROM %I$q$, parent, part.relname, part.upper, part.relname, part.relname);
            ELSE
                EXECUTE format($q$
                    INSERT INTO retention_log (
                        table_name, partition_name, stored_before, rows, last_offsets)
                    SELECT %L, %L, %L, count(*),
                        coalesce((SELECT jsonb_object_agg(k, o) FROM (
                            SELECT kafka_topic_id || ':' || kafka_partition AS k,
                                   max(kafka_offset) AS o
                            FROM %I WHERE kafka_partition IS NOT NULL GROUP BY 1) AS m), '{}')
                    FROM %I$q$, parent, part.relname, part.upper, part.relname, part.relname);
            END IF;
            EXECUTE format('DROP TABLE %I', part.relname);
            dropped := dropped + 1;
        END LOOP;
    END LOOP;
    RETURN dropped;
END
$$;
SELECT format('ALTER FUNCTION keep_partitions(integer) SET search_path = %I, pg_catalog, pg_temp',
              :'schema') \gexec
REVOKE ALL ON FUNCTION keep_partitions(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION keep_partitions(integer) TO :"runtime_user";

-- An upgraded schema's old table (renamed above) becomes the partition of everything stored up
-- to the end of its last day; an empty one is dropped.
DO $$
DECLARE
    t text;
    upper timestamptz;
BEGIN
    FOREACH t IN ARRAY ARRAY['raw_events', 'rejected_events'] LOOP
        CONTINUE WHEN to_regclass(t || '_unpartitioned') IS NULL
            OR EXISTS (SELECT FROM pg_inherits WHERE inhrelid = to_regclass(t || '_unpartitioned'));
        EXECUTE format('SELECT date_trunc(%L, max(%I), %L) + interval %L FROM %I', 'day',
                       CASE t WHEN 'raw_events' THEN 'processed_at' ELSE 'rejected_at' END, 'UTC',
                       '1 day', t || '_unpartitioned') INTO upper;
        IF upper IS NULL THEN
            EXECUTE format('DROP TABLE %I', t || '_unpartitioned');
        ELSE
            EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (MINVALUE) TO (%L)',
                           t, t || '_unpartitioned', upper);
        END IF;
    END LOOP;
    IF to_regclass('rejected_events_unpartitioned') IS NOT NULL THEN
        PERFORM setval('rejected_events_id_seq',
                       (SELECT max(id) FROM rejected_events_unpartitioned));
    END IF;
END
$$;
SELECT keep_partitions(0);

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
