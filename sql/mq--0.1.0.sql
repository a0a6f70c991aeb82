/* mq--0.1.0.sql: install script of the mq extension */

\echo Use "CREATE EXTENSION mq" to load this file. \quit

/*
 * Schema mq must belong to a superuser: its owner could drop or replace
 * anything mq keeps there.  CREATE EXTENSION made it if it did not exist;
 * one made earlier by another role is refused before anything goes in.
 */
DO $check$
DECLARE
    owner_name text;
    owner_super boolean;
BEGIN
    SELECT r.rolname, r.rolsuper INTO owner_name, owner_super
      FROM pg_catalog.pg_namespace n
      JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
     WHERE n.nspname OPERATOR(pg_catalog.=) 'mq';
    IF NOT owner_super THEN
        RAISE EXCEPTION 'schema "mq" is owned by role "%", not by a superuser', owner_name
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Its owner could drop or replace anything mq keeps in it.',
                  HINT = 'Check what the schema holds, make a superuser its owner (ALTER SCHEMA mq OWNER TO ...) or drop it, and try again.';
    END IF;
END
$check$;

/*
 * The queue registry.  Queues' own tables (mq.q_<name>, mq.a_<name>) are
 * made at run time by mq.create_queue and are not extension members, so
 * pg_dump dumps them with their rows; the registry names them, never by OID.
 */
CREATE TABLE mq.queue (
    queue_name          text        PRIMARY KEY
                        CHECK (queue_name OPERATOR(pg_catalog.~) '^[a-z_][a-z0-9_]*$'
                               AND pg_catalog.octet_length(queue_name) OPERATOR(pg_catalog.<=) 48),
    created_at          timestamptz NOT NULL DEFAULT pg_catalog.now(),
    visibility_timeout  interval    NOT NULL,
    unlogged            boolean     NOT NULL DEFAULT false
);
SELECT pg_catalog.pg_extension_config_dump('mq.queue', '');
COMMENT ON TABLE mq.queue IS 'mq queue registry: one row per queue';

CREATE TYPE mq.message AS (
    id          bigint,
    payload     jsonb,
    headers     jsonb,
    enqueued_at timestamptz,
    vt          timestamptz,
    deliveries  integer
);
COMMENT ON TYPE mq.message IS 'a message as mq.read returns it';

CREATE FUNCTION mq.create_queue(
    queue_name text,
    visibility_timeout interval DEFAULT '30 seconds',
    unlogged boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'mq_create_queue'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.create_queue(text, interval, boolean) IS 'create a queue';

CREATE FUNCTION mq.drop_queue(queue_name text, if_exists boolean DEFAULT false)
RETURNS boolean
AS 'MODULE_PATHNAME', 'mq_drop_queue'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.drop_queue(text, boolean) IS 'drop a queue with its messages and archive';

CREATE FUNCTION mq.send(
    queue_name text,
    payload jsonb,
    headers jsonb DEFAULT NULL,
    delay interval DEFAULT '0')
RETURNS bigint
AS 'MODULE_PATHNAME', 'mq_send'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.send(text, jsonb, jsonb, interval) IS 'send one message; returns its id';

CREATE FUNCTION mq.send_batch(
    queue_name text,
    payloads jsonb[],
    headers jsonb DEFAULT NULL,
    delay interval DEFAULT '0')
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'mq_send_batch'
LANGUAGE C VOLATILE ROWS 100;
COMMENT ON FUNCTION mq.send_batch(text, jsonb[], jsonb, interval) IS 'send many messages; returns their ids in input order';

CREATE FUNCTION mq.read(
    queue_name text,
    qty integer DEFAULT 1,
    vt interval DEFAULT NULL)
RETURNS SETOF mq.message
AS 'MODULE_PATHNAME', 'mq_read'
LANGUAGE C VOLATILE ROWS 10;
COMMENT ON FUNCTION mq.read(text, integer, interval) IS 'lease up to qty visible messages, oldest first';

CREATE FUNCTION mq.ack(queue_name text, id bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'mq_ack'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.ack(text, bigint) IS 'remove a message; false if there is none';

CREATE FUNCTION mq.ack(queue_name text, ids bigint[])
RETURNS bigint
AS 'MODULE_PATHNAME', 'mq_ack_many'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.ack(text, bigint[]) IS 'remove messages; returns how many were removed';

CREATE FUNCTION mq.nack(
    queue_name text,
    id bigint,
    error text DEFAULT NULL,
    delay interval DEFAULT '0')
RETURNS boolean
AS 'MODULE_PATHNAME', 'mq_nack'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.nack(text, bigint, text, interval) IS 'give a message back, visible again after delay, keeping the error';

CREATE FUNCTION mq.archive(queue_name text, id bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'mq_archive'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.archive(text, bigint) IS 'move a message to the queue''s archive';

CREATE FUNCTION mq.archive(queue_name text, ids bigint[])
RETURNS bigint
AS 'MODULE_PATHNAME', 'mq_archive_many'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.archive(text, bigint[]) IS 'move messages to the queue''s archive; returns how many moved';

CREATE FUNCTION mq.archived(queue_name text)
RETURNS TABLE (
    id          bigint,
    payload     jsonb,
    headers     jsonb,
    enqueued_at timestamptz,
    archived_at timestamptz,
    deliveries  integer,
    last_error  text)
AS 'MODULE_PATHNAME', 'mq_archived'
LANGUAGE C STABLE;
COMMENT ON FUNCTION mq.archived(text) IS 'the archived messages of a queue';

CREATE FUNCTION mq.set_vt(queue_name text, id bigint, vt interval)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'mq_set_vt'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.set_vt(text, bigint, interval) IS 'set when a message becomes visible again; returns the new time, NULL if no such message';

CREATE FUNCTION mq.purge(queue_name text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'mq_purge'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.purge(text) IS 'delete every message of a queue; returns how many';

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
    OUT archive_bytes bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'mq_queue_stats'
LANGUAGE C STABLE;
COMMENT ON FUNCTION mq._queue_stats() IS 'internal: the rows of mq.queues';

CREATE VIEW mq.queues AS
    SELECT queue_name, created_at, visibility_timeout, unlogged,
           depth, in_flight, delayed, archived, oldest_age,
           total_bytes, archive_bytes
    FROM mq._queue_stats();
COMMENT ON VIEW mq.queues IS 'one row per queue: options, depth, in-flight, delayed, archived, oldest age, size';

CREATE FUNCTION mq._drop_extension()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'mq_drop_extension_trigger'
LANGUAGE C;
COMMENT ON FUNCTION mq._drop_extension() IS 'internal: drops queue tables on DROP EXTENSION mq';

CREATE EVENT TRIGGER mq_drop_extension ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION')
    EXECUTE FUNCTION mq._drop_extension();
