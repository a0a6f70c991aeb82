-- DROP EXTENSION leaves no relation behind, queues included.
\i test/sql/setup.inc

SELECT mq.create_queue('left_a');
SELECT mq.create_queue('left_b', unlogged => true);
SELECT mq.send('left_a', '{}') > 0 AS sent;
SELECT count(*) > 0 AS has_relations FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'mq';

-- Dropping some other extension does not touch the queues.
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
DROP EXTENSION pg_stat_statements;
SELECT count(*) FROM mq.queue;

DROP EXTENSION mq;
-- The schema is CREATE EXTENSION's ordinary schema (not a member): it stays, empty.
SELECT count(*) FROM pg_namespace WHERE nspname = 'mq';
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'mq';
SELECT count(*) FROM pg_class WHERE relname IN ('q_left_a', 'a_left_a', 'q_left_b', 'a_left_b', 'queue');
SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'mq%';

-- And it comes back clean.
CREATE EXTENSION mq;
SELECT count(*) FROM mq.queues;
DROP EXTENSION mq;
