/* mq--0.2.0--0.3.0.sql: delivery guarantees (in development) */

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
