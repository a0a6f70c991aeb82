/* mq--0.1.0--0.2.0.sql: waiting reads, consumer priority, notifications, workers */

\echo Use "ALTER EXTENSION mq UPDATE TO '0.2.0'" to load this file. \quit

-- Per-queue opt-in NOTIFY mq_<queue_name> after committed sends.
ALTER TABLE mq.queue ADD COLUMN notify boolean NOT NULL DEFAULT false;

DROP FUNCTION mq.create_queue(text, interval, boolean);
CREATE FUNCTION mq.create_queue(
    queue_name text,
    visibility_timeout interval DEFAULT '30 seconds',
    unlogged boolean DEFAULT false,
    notify boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'mq_create_queue'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.create_queue(text, interval, boolean, boolean) IS 'create a queue';

CREATE FUNCTION mq.alter_queue(
    queue_name text,
    visibility_timeout interval DEFAULT NULL,
    notify boolean DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'mq_alter_queue'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.alter_queue(text, interval, boolean) IS 'change a queue''s options; NULL leaves one as it is';

-- mq.read gains wait and consumer_priority.
DROP FUNCTION mq.read(text, integer, interval);
CREATE FUNCTION mq.read(
    queue_name text,
    qty integer DEFAULT 1,
    vt interval DEFAULT NULL,
    wait interval DEFAULT NULL,
    consumer_priority integer DEFAULT 0)
RETURNS SETOF mq.message
AS 'MODULE_PATHNAME', 'mq_read'
LANGUAGE C VOLATILE ROWS 10;
COMMENT ON FUNCTION mq.read(text, integer, interval, interval, integer) IS 'lease up to qty visible messages, oldest first; with wait, sleep until one arrives or wait elapses';

-- mq.queues gains notify and waiting.
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
    OUT waiting integer)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'mq_queue_stats'
LANGUAGE C STABLE;
COMMENT ON FUNCTION mq._queue_stats() IS 'internal: the rows of mq.queues';

CREATE VIEW mq.queues AS
    SELECT queue_name, created_at, visibility_timeout, unlogged,
           depth, in_flight, delayed, archived, oldest_age,
           total_bytes, archive_bytes, notify, waiting
    FROM mq._queue_stats();
COMMENT ON VIEW mq.queues IS 'one row per queue: options, depth, in-flight, delayed, archived, oldest age, size, notify, consumers waiting';

-- The background worker of this database starts when this commits.
CREATE FUNCTION mq._start_worker()
RETURNS boolean
AS 'MODULE_PATHNAME', 'mq_start_worker'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq._start_worker() IS 'internal: ask the mq launcher to start this database''s worker at commit';
SELECT mq._start_worker();
