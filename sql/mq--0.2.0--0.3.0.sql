/* mq--0.2.0--0.3.0.sql: delivery guarantees */

\echo Use "ALTER EXTENSION mq UPDATE TO '0.3.0'" to load this file. \quit

-- The same message to several queues, all or nothing.
CREATE FUNCTION mq.send_multi(
    queue_names text[],
    payload jsonb,
    headers jsonb DEFAULT NULL,
    delay interval DEFAULT '0')
RETURNS TABLE (queue_name text, id bigint)
AS 'MODULE_PATHNAME', 'mq_send_multi'
LANGUAGE C VOLATILE ROWS 4;
COMMENT ON FUNCTION mq.send_multi(text[], jsonb, jsonb, interval) IS 'send one message to several queues, all or nothing; returns each queue''s new id';

-- Deduplication: keys remembered per queue for its dedup_window.
ALTER TABLE mq.queue ADD COLUMN dedup_window interval NOT NULL DEFAULT '5 minutes'
    CHECK (dedup_window OPERATOR(pg_catalog.>=) '0'::pg_catalog.interval);

CREATE TABLE mq.dedup (
    queue_name  text        NOT NULL,
    dedup_key   text        NOT NULL,
    id          bigint      NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (queue_name, dedup_key)
);
SELECT pg_catalog.pg_extension_config_dump('mq.dedup', '');
COMMENT ON TABLE mq.dedup IS 'mq dedup keys: the id a key was sent as, until expires_at';

DROP FUNCTION mq.send(text, jsonb, jsonb, interval);
CREATE FUNCTION mq.send(
    queue_name text,
    payload jsonb,
    headers jsonb DEFAULT NULL,
    delay interval DEFAULT '0',
    dedup_key text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'mq_send'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.send(text, jsonb, jsonb, interval, text) IS 'send one message; returns its id (with dedup_key: the first send''s id inside the dedup window)';

DROP FUNCTION mq.send_batch(text, jsonb[], jsonb, interval);
CREATE FUNCTION mq.send_batch(
    queue_name text,
    payloads jsonb[],
    headers jsonb DEFAULT NULL,
    delay interval DEFAULT '0',
    dedup_keys text[] DEFAULT NULL)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'mq_send_batch'
LANGUAGE C VOLATILE ROWS 100;
COMMENT ON FUNCTION mq.send_batch(text, jsonb[], jsonb, interval, text[]) IS 'send many messages; returns their ids in input order';

-- Retries: a nack without a delay backs off exponentially, with jitter.
ALTER TABLE mq.queue
    ADD COLUMN retry_delay interval NOT NULL DEFAULT '0'
        CHECK (retry_delay OPERATOR(pg_catalog.>=) '0'::pg_catalog.interval),
    ADD COLUMN retry_delay_max interval NOT NULL DEFAULT '1 hour'
        CHECK (retry_delay_max OPERATOR(pg_catalog.>=) '0'::pg_catalog.interval);

DROP FUNCTION mq.nack(text, bigint, text, interval);
CREATE FUNCTION mq.nack(
    queue_name text,
    id bigint,
    error text DEFAULT NULL,
    delay interval DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'mq_nack'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.nack(text, bigint, text, interval) IS 'give a message back, visible again after delay (NULL: the queue''s backoff), keeping the error';

-- Dead letters: after max_deliveries, a nacked message moves to the
-- dead-letter queue (or, without one, to the archive with the reason).
ALTER TABLE mq.queue
    ADD COLUMN max_deliveries integer
        CHECK (max_deliveries OPERATOR(pg_catalog.>=) 1),
    ADD COLUMN dead_letter_queue text
        CHECK (dead_letter_queue OPERATOR(pg_catalog.~) '^[a-z_][a-z0-9_]*$'
               AND pg_catalog.octet_length(dead_letter_queue) OPERATOR(pg_catalog.<=) 48
               AND dead_letter_queue OPERATOR(pg_catalog.<>) queue_name);

CREATE FUNCTION mq.redrive(
    dead_letter_queue text,
    target_queue text DEFAULT NULL,
    max_messages bigint DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'mq_redrive'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.redrive(text, text, bigint) IS 'move dead-lettered messages back to their queue (or target_queue), deliveries reset, history kept';

DROP FUNCTION mq.create_queue(text, interval, boolean, boolean);
CREATE FUNCTION mq.create_queue(
    queue_name text,
    visibility_timeout interval DEFAULT '30 seconds',
    unlogged boolean DEFAULT false,
    notify boolean DEFAULT false,
    dedup_window interval DEFAULT '5 minutes',
    retry_delay interval DEFAULT '0',
    retry_delay_max interval DEFAULT '1 hour',
    max_deliveries integer DEFAULT NULL,
    dead_letter_queue text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'mq_create_queue'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.create_queue(text, interval, boolean, boolean, interval, interval, interval, integer, text) IS 'create a queue';

DROP FUNCTION mq.alter_queue(text, interval, boolean);
CREATE FUNCTION mq.alter_queue(
    queue_name text,
    visibility_timeout interval DEFAULT NULL,
    notify boolean DEFAULT NULL,
    dedup_window interval DEFAULT NULL,
    retry_delay interval DEFAULT NULL,
    retry_delay_max interval DEFAULT NULL,
    max_deliveries integer DEFAULT NULL,
    dead_letter_queue text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'mq_alter_queue'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.alter_queue(text, interval, boolean, interval, interval, interval, integer, text) IS 'change a queue''s options; NULL leaves one as it is (max_deliveries 0 and dead_letter_queue '''' remove them)';

-- Idempotent consumers: keys a consumer has processed, kept for a while.
CREATE TABLE mq.processed (
    consumer    text        NOT NULL,
    key         text        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (consumer, key)
);
SELECT pg_catalog.pg_extension_config_dump('mq.processed', '');
COMMENT ON TABLE mq.processed IS 'mq.mark_processed: keys each consumer has processed, until expires_at';

CREATE FUNCTION mq.mark_processed(consumer text, key text, keep interval DEFAULT '7 days')
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $f$
DECLARE
    first boolean;
BEGIN
    IF consumer IS NULL OR key IS NULL OR keep IS NULL THEN
        RAISE EXCEPTION 'consumer, key and keep of mq.mark_processed must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF keep < interval '0' THEN
        RAISE EXCEPTION 'keep of mq.mark_processed must not be negative'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- A concurrent caller with the same key waits here for ours to end.
    INSERT INTO mq.processed AS p (consumer, key, expires_at)
    VALUES (mark_processed.consumer, mark_processed.key, now() + keep)
    ON CONFLICT ON CONSTRAINT processed_pkey DO UPDATE
        SET processed_at = now(), expires_at = EXCLUDED.expires_at
        WHERE p.expires_at <= now()
    RETURNING true INTO first;
    RETURN coalesce(first, false);
END
$f$;
COMMENT ON FUNCTION mq.mark_processed(text, text, interval) IS 'record that consumer processed key; true the first time (within keep), false after';

-- A read returns each message's last error: the latest nack error, or a
-- note that a lease expired.
ALTER TYPE mq.message ADD ATTRIBUTE last_error text;

-- Per-message failure record: how many deliveries failed (nack or lease
-- expiry), the first error, and when the latest failure happened.  Every
-- existing queue table gains the columns (no rewrite: constant defaults;
-- a queue the 0.3.0 library created before the update has them already).
DO $do$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT queue_name FROM mq.queue LOOP
        EXECUTE pg_catalog.format(
            'ALTER TABLE mq.%I ADD COLUMN IF NOT EXISTS failures integer NOT NULL DEFAULT 0,'
            ' ADD COLUMN IF NOT EXISTS first_error text, ADD COLUMN IF NOT EXISTS failed_at timestamptz',
            'q_' OPERATOR(pg_catalog.||) r.queue_name);
    END LOOP;
END
$do$;

-- mq.queues gains the delivery options, the messages now failing, and
-- failure counters since the server started.
DROP VIEW mq.queues;
DROP FUNCTION mq._queue_stats();
CREATE FUNCTION mq._queue_stats(
    OUT queue_name text,
    OUT created_at timestamptz,
    OUT visibility_timeout interval,
    OUT unlogged boolean,
    OUT depth bigint,
    OUT in_flight bigint,
    OUT delayed bigint,
    OUT archived bigint,
    OUT oldest_age interval,
    OUT total_bytes bigint,
    OUT archive_bytes bigint,
    OUT notify boolean,
    OUT waiting integer,
    OUT max_deliveries integer,
    OUT dead_letter_queue text,
    OUT failing bigint,
    OUT nacks bigint,
    OUT lease_expiries bigint,
    OUT dead_letters bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'mq_queue_stats'
LANGUAGE C STABLE;
COMMENT ON FUNCTION mq._queue_stats() IS 'internal: the rows of mq.queues';

CREATE VIEW mq.queues AS
    SELECT queue_name, created_at, visibility_timeout, unlogged,
           depth, in_flight, delayed, archived, oldest_age,
           total_bytes, archive_bytes, notify, waiting,
           max_deliveries, dead_letter_queue, failing,
           nacks, lease_expiries, dead_letters
    FROM mq._queue_stats();
COMMENT ON VIEW mq.queues IS 'one row per queue: options, depth, in-flight, delayed, archived, oldest age, size, notify, consumers waiting, failing messages and failure counters';
