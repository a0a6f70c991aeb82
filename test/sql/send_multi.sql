-- mq.send_multi: one message to several queues, all or nothing.
\i test/sql/setup.inc
SELECT mq.create_queue('sm_a');
SELECT mq.create_queue('sm_b');
SELECT mq.create_queue('sm_c');
CREATE FUNCTION pg_temp.depths() RETURNS text LANGUAGE sql AS $$
  SELECT string_agg(queue_name || '=' || depth || '/' || delayed, ' ' ORDER BY queue_name)
    FROM mq.queues WHERE queue_name LIKE 'sm\_%'
$$;

-- one row per queue, in list order, each with that queue's new id
SELECT * FROM mq.send_multi(ARRAY['sm_b', 'sm_a'], '{"order": 1}', '{"h": 1}');
SELECT pg_temp.depths();
SELECT payload, headers FROM mq.read('sm_a');
SELECT payload, headers FROM mq.read('sm_b');

-- delay applies to every copy
SELECT count(*) FROM mq.send_multi(ARRAY['sm_a', 'sm_b', 'sm_c'], '{"order": 2}', delay => '1 hour');
SELECT pg_temp.depths();

-- transactional: a rollback (or a rolled-back savepoint) sends nothing
BEGIN;
SELECT count(*) FROM mq.send_multi(ARRAY['sm_a', 'sm_c'], '{"order": 3}');
ROLLBACK;
BEGIN;
SAVEPOINT s;
SELECT count(*) FROM mq.send_multi(ARRAY['sm_a', 'sm_c'], '{"order": 4}');
ROLLBACK TO SAVEPOINT s;
SELECT count(*) FROM mq.send_multi(ARRAY['sm_b'], '{"order": 5}');
COMMIT;
SELECT pg_temp.depths();

-- two-phase commit: nothing until COMMIT PREPARED, then every copy
BEGIN;
SELECT count(*) FROM mq.send_multi(ARRAY['sm_a', 'sm_c'], '{"order": 6}');
PREPARE TRANSACTION 'mq_send_multi';
SELECT pg_temp.depths();
COMMIT PREPARED 'mq_send_multi';
SELECT pg_temp.depths();

-- errors send nothing at all
SELECT pg_temp.err($$SELECT mq.send_multi(ARRAY['sm_a', 'sm_nope', 'sm_b'], '{}')$$);
SELECT pg_temp.err($$SELECT mq.send_multi(ARRAY['sm_a', 'Bad'], '{}')$$);
SELECT pg_temp.err($$SELECT mq.send_multi(ARRAY['sm_a', NULL], '{}')$$);
SELECT pg_temp.err($$SELECT mq.send_multi(NULL, '{}')$$);
SELECT pg_temp.err($$SELECT mq.send_multi('{}'::text[], '{}')$$);
SELECT pg_temp.err($$SELECT mq.send_multi(ARRAY['sm_a', 'sm_b', 'sm_a'], '{}')$$);
SELECT pg_temp.err($$SELECT mq.send_multi(ARRAY[['sm_a'], ['sm_b']], '{}')$$);
SELECT pg_temp.err($$SELECT mq.send_multi(ARRAY['sm_a', 'sm_b'], NULL)$$);
SELECT pg_temp.err($$SELECT mq.send_multi(ARRAY['sm_a', 'sm_b'], '{}', delay => '-1 s')$$);
SET mq.max_payload_size = 64;
SELECT pg_temp.err($$SELECT mq.send_multi(ARRAY['sm_a', 'sm_b'], jsonb_build_object('big', repeat('x', 100)))$$);
RESET mq.max_payload_size;
SELECT pg_temp.depths();

-- mq.send keeps its one-queue form: no ambiguity with a text[] first argument
SELECT mq.send('sm_c', '{"plain": true}') > 0 AS sent;

SELECT mq.drop_queue('sm_a');
SELECT mq.drop_queue('sm_b');
SELECT mq.drop_queue('sm_c');
