-- Deduplication: mq.send(..., dedup_key) and mq.send_batch(..., dedup_keys)
-- inside the queue's dedup_window.  Racing sends: test/specs/iso_dedup.spec.
\i test/sql/setup.inc
SELECT mq.create_queue('dd_q');
SELECT dedup_window FROM mq.queue WHERE queue_name = 'dd_q';

-- the second send of a key returns the first id and enqueues nothing
SELECT mq.send('dd_q', '{"n": 1}', dedup_key => 'order-1') AS first \gset
SELECT mq.send('dd_q', '{"n": 2}', dedup_key => 'order-1') = :first AS same_id;
SELECT count(*) AS messages FROM mq.q_dd_q;

-- also after the first was consumed (acked), while inside the window
SELECT mq.ack('dd_q', id) FROM mq.read('dd_q');
SELECT mq.send('dd_q', '{"n": 3}', dedup_key => 'order-1') = :first AS same_id;
SELECT count(*) AS messages FROM mq.q_dd_q;

-- other keys, and no key, send normally; keys are per queue
SELECT mq.send('dd_q', '{"n": 4}', dedup_key => 'order-2') <> :first AS new_id;
SELECT mq.send('dd_q', '{"n": 5}') > 0 AS sent;
SELECT mq.create_queue('dd_other');
SELECT mq.send('dd_other', '{"n": 6}', dedup_key => 'order-1') > 0 AS sent_elsewhere;
SELECT count(*) AS messages FROM mq.q_dd_q;

-- a rolled-back send does not keep its key
BEGIN;
SELECT mq.send('dd_q', '{"n": 7}', dedup_key => 'order-3') > 0 AS sent;
ROLLBACK;
SELECT mq.send('dd_q', '{"n": 8}', dedup_key => 'order-3') AS third \gset
SELECT payload FROM mq.q_dd_q WHERE id = :third;

-- a savepoint rolled back undoes just its send and key
BEGIN;
SAVEPOINT s;
SELECT mq.send('dd_q', '{"n": 9}', dedup_key => 'order-4') > 0 AS sent;
ROLLBACK TO SAVEPOINT s;
SELECT mq.send('dd_q', '{"n": 10}', dedup_key => 'order-4') AS fourth \gset
COMMIT;
SELECT payload FROM mq.q_dd_q WHERE id = :fourth;

-- batches: a key repeated in the batch or seen before returns its first id
SELECT array_agg(x ORDER BY ord) = ARRAY[:first, :fourth]::bigint[] AS old_ids
  FROM mq.send_batch('dd_q', ARRAY['{}', '{}']::jsonb[],
                     dedup_keys => ARRAY['order-1', 'order-4']) WITH ORDINALITY AS t(x, ord);
SELECT count(DISTINCT x) AS distinct_ids, count(*) AS ids
  FROM mq.send_batch('dd_q', ARRAY['{"b": 1}', '{"b": 2}', '{"b": 3}', '{"b": 4}']::jsonb[],
                     dedup_keys => ARRAY['b-1', 'b-2', 'b-1', NULL]) AS t(x);
SELECT count(*) AS messages FROM mq.q_dd_q;

-- two-phase commit keeps the key with the prepared send
BEGIN;
SELECT mq.send('dd_q', '{"n": 11}', dedup_key => 'order-5') AS fifth \gset
PREPARE TRANSACTION 'mq_dedup';
COMMIT PREPARED 'mq_dedup';
SELECT mq.send('dd_q', '{"n": 12}', dedup_key => 'order-5') = :fifth AS same_id;

-- a key keeps the window in effect when it was sent; with a zero window
-- new keys are not remembered at all
SELECT mq.alter_queue('dd_q', dedup_window => '0');
SELECT mq.send('dd_q', '{"n": 13}', dedup_key => 'order-1') = :first AS still_remembered;
SELECT mq.send('dd_q', '{"n": 14}', dedup_key => 'zero-1') AS z1 \gset
SELECT mq.send('dd_q', '{"n": 15}', dedup_key => 'zero-1') <> :z1 AS new_id;
SELECT mq.alter_queue('dd_q', dedup_window => '1 hour');
SELECT dedup_window FROM mq.queue WHERE queue_name = 'dd_q';

-- errors change nothing
SELECT count(*) AS messages_before FROM mq.q_dd_q;
SELECT pg_temp.err($$SELECT mq.send('dd_q', '{}', dedup_key => repeat('k', 513))$$);
SELECT pg_temp.err($$SELECT mq.send_batch('dd_q', ARRAY['{}', '{}']::jsonb[], dedup_keys => ARRAY['a'])$$);
SELECT pg_temp.err($$SELECT mq.send_batch('dd_q', ARRAY['{}']::jsonb[], dedup_keys => ARRAY[['a']])$$);
SELECT pg_temp.err($$SELECT mq.send_batch('dd_q', ARRAY['{}', '{}']::jsonb[], dedup_keys => ARRAY['ok', repeat('k', 513)])$$);
SELECT pg_temp.err($$SELECT mq.create_queue('dd_bad', dedup_window => '-1 s')$$);
SELECT pg_temp.err($$SELECT mq.create_queue('dd_bad', dedup_window => NULL)$$);
SELECT pg_temp.err($$SELECT mq.alter_queue('dd_q', dedup_window => '-1 s')$$);
SELECT count(*) AS messages_after FROM mq.q_dd_q;
SELECT count(*) AS dd_bad FROM mq.queue WHERE queue_name = 'dd_bad';

-- dropping a queue forgets its keys
SELECT count(*) > 0 AS has_keys FROM mq.dedup WHERE queue_name = 'dd_q';
SELECT mq.drop_queue('dd_q');
SELECT count(*) AS keys_left FROM mq.dedup WHERE queue_name = 'dd_q';
SELECT mq.drop_queue('dd_other');
