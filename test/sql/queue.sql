-- Queue lifecycle: create, list, drop; the relations each queue owns.
\i test/sql/setup.inc

SELECT mq.create_queue('orders');
SELECT mq.create_queue('slow_jobs', visibility_timeout => '5 minutes');
SELECT mq.create_queue('scratch', unlogged => true);
SELECT mq.create_queue('_x9');

SELECT queue_name, visibility_timeout, unlogged, depth, in_flight, delayed, archived,
       oldest_age IS NULL AS empty, total_bytes > 0 AS has_storage
FROM mq.queues ORDER BY queue_name;

-- Each queue is a message table and an archive in schema mq.
SELECT c.relname, c.relpersistence
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'mq' AND c.relkind = 'r' AND c.relname <> 'queue'
ORDER BY c.relname;

-- Duplicate: 42710, and nothing changes.
SELECT pg_temp.err($$SELECT mq.create_queue('orders')$$);
SELECT count(*) FROM mq.queue WHERE queue_name = 'orders';

-- Drop returns true; the relations are gone.
SELECT mq.drop_queue('_x9');
SELECT count(*) FROM pg_class WHERE relname IN ('q__x9', 'a__x9', 'q__x9_id_seq');
-- Unknown queue: 42704, or false with if_exists.
SELECT pg_temp.err($$SELECT mq.drop_queue('_x9')$$);
SELECT mq.drop_queue('_x9', if_exists => true);
SELECT mq.drop_queue('no_such_queue', true);

-- A queue can be created again after a drop, empty.
SELECT mq.send('orders', '{"n": 1}') > 0 AS sent;
SELECT mq.drop_queue('orders');
SELECT mq.create_queue('orders');
SELECT depth FROM mq.queues WHERE queue_name = 'orders';

-- Creating and dropping roll back with the transaction.
BEGIN;
SELECT mq.create_queue('temporary_q');
ROLLBACK;
SELECT count(*) FROM mq.queue WHERE queue_name = 'temporary_q';
SELECT count(*) FROM pg_class WHERE relname = 'q_temporary_q';
BEGIN;
SELECT mq.drop_queue('slow_jobs');
ROLLBACK;
SELECT queue_name FROM mq.queues WHERE queue_name = 'slow_jobs';

-- Bad visibility timeouts: 22023 / 22004.
SELECT pg_temp.err($$SELECT mq.create_queue('bad_vt', '-1 second')$$);
SELECT pg_temp.err($$SELECT mq.create_queue('bad_vt', '0 seconds')$$);
SELECT pg_temp.err($$SELECT mq.create_queue('bad_vt', NULL)$$);
SELECT count(*) FROM mq.queue WHERE queue_name = 'bad_vt';

SELECT mq.drop_queue('orders'), mq.drop_queue('slow_jobs'), mq.drop_queue('scratch');
SELECT count(*) FROM mq.queues;
