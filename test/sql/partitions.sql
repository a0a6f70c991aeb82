-- Partitioned queues: mq.create_queue(..., partitions => N) makes N message
-- tables (mq.q_<name>, mq.q1_<name> ..), each with its own id range, read
-- position and plans.  Every call works across them.
\i test/sql/setup.inc

-- Out of range: 22023, and nothing is created.
DO $$
BEGIN
  PERFORM mq.create_queue('pbad', partitions => 0);
EXCEPTION WHEN invalid_parameter_value THEN
  RAISE NOTICE 'partitions 0: % (%)', SQLERRM, SQLSTATE;
END $$;
DO $$
BEGIN
  PERFORM mq.create_queue('pbad', partitions => 65);
EXCEPTION WHEN invalid_parameter_value THEN
  RAISE NOTICE 'partitions 65: % (%)', SQLERRM, SQLSTATE;
END $$;
SELECT count(*) AS registered FROM mq.queue WHERE queue_name = 'pbad';
SELECT count(*) AS tables FROM pg_class
 WHERE relnamespace = 'mq'::regnamespace AND relname LIKE '%pbad%';

-- A queue of 4 partitions: four message tables, one archive; each
-- partition's ids run from k * 2^48 + 1.
SELECT mq.create_queue('p', '30 seconds', partitions => 4);
SELECT c.relname, s.min_value, s.max_value
  FROM pg_class c JOIN pg_sequences s
    ON s.schemaname = 'mq' AND s.sequencename = c.relname
 WHERE c.relnamespace = 'mq'::regnamespace AND c.relname LIKE 'q%\_p\_id\_seq'
 ORDER BY s.min_value;
SELECT queue_name, partitions, depth FROM mq.queues WHERE queue_name = 'p';
-- A default queue has one partition, as before.
SELECT mq.create_queue('p1');
SELECT partitions FROM mq.queues WHERE queue_name = 'p1';

-- Transactions take turns: 8 sending transactions, 2 per partition.
DO $$
BEGIN
  FOR g IN 1 .. 8 LOOP
    PERFORM mq.send('p', jsonb_build_object('n', g));
    COMMIT;
  END LOOP;
END $$;
SELECT id >> 48 AS partition, count(*) FROM mq.peek('p', 100) GROUP BY 1 ORDER BY 1;
-- The messages of one transaction (a batch, or several sends) stay in one
-- partition, in order.
SELECT count(DISTINCT id >> 48) AS partitions_used, count(*)
  FROM mq.send_batch('p', ARRAY['{"b": 1}', '{"b": 2}', '{"b": 3}']::jsonb[]) AS id;
SELECT depth, partitions FROM mq.queues WHERE queue_name = 'p';

-- A read takes what it can in its partition, then moves on: it returns as
-- many messages as a queue of one partition would.  Within a partition,
-- messages come in send order.
CREATE TEMP TABLE got AS SELECT id, payload FROM mq.read('p', 11);
SELECT count(*) AS read FROM got;
SELECT count(*) AS out_of_order FROM (
  SELECT payload->>'n' AS n, lag(payload->>'n') OVER (PARTITION BY id >> 48 ORDER BY id) AS prev
    FROM got WHERE payload ? 'n') x
 WHERE prev IS NOT NULL AND n::int < prev::int;
SELECT count(*) AS more FROM mq.read('p', 10);
SELECT state, count(*) FROM mq.peek('p', 100) GROUP BY 1;

-- ack, nack, archive and set_vt find each message's partition from its id.
SELECT mq.ack('p', (SELECT array_agg(id) FROM got WHERE payload ? 'b')) AS batch_acked;
DELETE FROM got WHERE payload ? 'b';
SELECT mq.ack('p', (SELECT min(id) FROM got WHERE id >> 48 = 2));
SELECT mq.ack('p', (SELECT array_agg(id) FROM (SELECT id FROM got WHERE id >> 48 = 2 OFFSET 1) x));
SELECT mq.nack('p', (SELECT array_agg(id) FROM got WHERE id >> 48 IN (0, 3)), 'try again');
SELECT id >> 48 AS partition, state, last_error FROM mq.peek('p', 100) ORDER BY id;
SELECT mq.archive('p', (SELECT min(id) FROM got WHERE id >> 48 = 1));
SELECT mq.set_vt('p', (SELECT array_agg(id) FROM got WHERE id >> 48 = 1), '2 hours');
SELECT count(*) AS archived FROM mq.archived('p');
-- An id of no partition of the queue, or of none that exists: nothing.
SELECT mq.ack('p', (5::bigint << 48) + 1) AS beyond, mq.ack('p', -1) AS negative,
       mq.nack('p', (4::bigint << 48) + 1) AS nack_beyond,
       mq.set_vt('p', (4::bigint << 48) + 1, '1 second') AS set_vt_beyond;
SELECT mq.ack('p', ARRAY[(7::bigint << 48) + 1, NULL]) AS none_acked;

-- peek: visible messages by id, then the others by the time they become
-- visible, merged over the partitions.
SELECT mq.send('p', '{"d": 1}', delay => '1 hour') > 0 AS delayed_sent;
SELECT state, count(*) FROM mq.peek('p', 100) GROUP BY 1 ORDER BY 1;
SELECT bool_and(ok) AS later_in_time_order FROM (
  SELECT visible_at >= lag(visible_at) OVER (ORDER BY ordinality) AS ok
    FROM mq.peek('p', 100) WITH ORDINALITY WHERE state <> 'visible') x WHERE ok IS NOT NULL;
SELECT depth, in_flight, delayed, archived FROM mq.queues WHERE queue_name = 'p';

-- pop and purge cover every partition.
SELECT count(*) AS popped FROM mq.pop('p', 100);
SELECT mq.purge('p') AS purged;
SELECT depth + in_flight + delayed AS left FROM mq.queues WHERE queue_name = 'p';

-- Dedup: one id per key, whatever partition took it.
SELECT mq.send('p', '{"k": 1}', dedup_key => 'once') = mq.send('p', '{"k": 2}', dedup_key => 'once') AS same_id;
SELECT count(*) FROM mq.read('p', 10);
SELECT mq.purge('p') AS purged;

-- Transactions: a rolled-back send leaves nothing, in any partition; a
-- rolled-back read leaves its messages visible again (the worker records
-- the failed deliveries: rollback.sql, stress.c).
BEGIN;
SELECT count(*) FROM (SELECT mq.send('p', '{}') FROM generate_series(1, 6)) s;
ROLLBACK;
SELECT depth FROM mq.queues WHERE queue_name = 'p';
DO $$
BEGIN
  FOR g IN 1 .. 6 LOOP
    PERFORM mq.send('p', jsonb_build_object('t', g));
    COMMIT;
  END LOOP;
END $$;
BEGIN;
SELECT count(*) FROM mq.read('p', 6);
ROLLBACK;
SELECT state, count(*), count(DISTINCT id >> 48) AS partitions FROM mq.peek('p', 10) GROUP BY 1;
SELECT mq.purge('p') AS purged;

-- Dead letters and redrive between partitioned queues.
SELECT mq.create_queue('pdl', partitions => 3);
SELECT mq.create_queue('pw', '30 seconds', max_deliveries => 1, dead_letter_queue => 'pdl', partitions => 2);
DO $$
BEGIN
  FOR g IN 1 .. 4 LOOP
    PERFORM mq.send('pw', jsonb_build_object('w', g));
    COMMIT;
  END LOOP;
END $$;
SELECT count(DISTINCT id >> 48) AS pw_partitions FROM mq.peek('pw', 10);
-- Two nacks, two transactions: two partitions of the dead-letter queue.
SELECT mq.nack('pw', (SELECT array_agg(id) FROM mq.read('pw', 2)), 'failed') AS nacked;
SELECT mq.nack('pw', (SELECT array_agg(id) FROM mq.read('pw', 2)), 'failed') AS nacked;
SELECT queue_name, depth FROM mq.queues WHERE queue_name IN ('pw', 'pdl') ORDER BY 1;
SELECT count(DISTINCT id >> 48) AS dead_letter_partitions,
       bool_and(headers->'mq_dead_letter'->>'queue' = 'pw') AS origin_kept
  FROM mq.peek('pdl', 10);
SELECT mq.redrive('pdl', max_messages => 3) AS redriven;
SELECT queue_name, depth FROM mq.queues WHERE queue_name IN ('pw', 'pdl') ORDER BY 1;
SELECT mq.redrive('pdl') AS redriven_rest;
SELECT array_agg(w ORDER BY w) AS redriven FROM (SELECT (payload->>'w')::int AS w FROM mq.read('pw', 10)) r;

-- Two-phase commit: a prepared send to a partitioned queue.
BEGIN;
SELECT mq.send('p', '{"twopc": 1}') > 0 AS sent;
PREPARE TRANSACTION 'mq_partitions_p';
SELECT count(*) AS before_commit FROM mq.read('p', 10);
COMMIT PREPARED 'mq_partitions_p';
SELECT payload FROM mq.read('p', 10);

-- mq.alter_queue adds partitions; it never removes any.  Messages sent
-- before stay where they are and are read as before.
SELECT mq.send('p1', '{"before": 1}') AS first_id;
BEGIN;
SELECT mq.alter_queue('p1', partitions => 3);
SELECT partitions FROM mq.queues WHERE queue_name = 'p1';
COMMIT;
SELECT c.relname, s.min_value, s.max_value
  FROM pg_class c JOIN pg_sequences s
    ON s.schemaname = 'mq' AND s.sequencename = c.relname
 WHERE c.relnamespace = 'mq'::regnamespace AND c.relname LIKE 'q%\_p1\_id\_seq'
 ORDER BY s.min_value;
DO $$
BEGIN
  FOR g IN 1 .. 3 LOOP
    PERFORM mq.send('p1', jsonb_build_object('after', g));
    COMMIT;
  END LOOP;
END $$;
SELECT id >> 48 AS partition, count(*) FROM mq.peek('p1', 10) GROUP BY 1 ORDER BY 1;
SELECT count(*) AS read FROM mq.read('p1', 10);
SELECT pg_temp.err($$SELECT mq.alter_queue('p1', partitions => 2)$$) AS shrink;
SELECT pg_temp.err($$SELECT mq.alter_queue('p1', partitions => 65)$$) AS too_many;
SELECT pg_temp.err($$SELECT mq.alter_queue('p1', partitions => 3)$$) AS same;
-- A rolled-back alter leaves no table behind.
BEGIN;
SELECT mq.alter_queue('p1', partitions => 5);
ROLLBACK;
SELECT partitions, (SELECT count(*) FROM pg_class WHERE relnamespace = 'mq'::regnamespace
                    AND relname IN ('q3_p1', 'q4_p1')) AS tables
  FROM mq.queues WHERE queue_name = 'p1';

-- Privileges are the queue's, for every partition.
CREATE ROLE mq_part_reader;
GRANT USAGE ON SCHEMA mq TO mq_part_reader;
SELECT mq.send('p', '{"secret": 1}') > 0 AS sent;
SET ROLE mq_part_reader;
DO $$
BEGIN
  PERFORM mq.read('p', 10);
EXCEPTION WHEN insufficient_privilege THEN
  RAISE NOTICE 'read: % (%)', SQLERRM, SQLSTATE;
END $$;
DO $$
BEGIN
  PERFORM mq.ack('p', (1::bigint << 48) + 1);
EXCEPTION WHEN insufficient_privilege THEN
  RAISE NOTICE 'ack: % (%)', SQLERRM, SQLSTATE;
END $$;
-- Adding partitions needs manage: 42501, and nothing changes.
SELECT pg_temp.err($$SELECT mq.alter_queue('p', partitions => 8)$$) AS alter_denied;
RESET ROLE;
SELECT partitions FROM mq.queues WHERE queue_name = 'p';
SELECT count(*) AS tables FROM pg_class
 WHERE relnamespace = 'mq'::regnamespace AND relname ~ '^q[4-7]_p$';
SELECT mq.grant('p', 'consume', 'mq_part_reader');
SET ROLE mq_part_reader;
SELECT payload FROM mq.read('p', 10);
RESET ROLE;

-- A partition's table dropped by hand: the queue is refused (55000) until
-- it is dropped, and mq.drop_queue removes every partition.
DROP TABLE mq.q2_p;
DO $$
BEGIN
  PERFORM mq.send('p', '{}');
EXCEPTION WHEN object_not_in_prerequisite_state THEN
  RAISE NOTICE 'send: % (%)', SQLERRM, SQLSTATE;
END $$;
SELECT * FROM mq._queue_problems() WHERE queue_name = 'p';
SELECT mq.drop_queue('p');
SELECT mq.drop_queue('pw');
SELECT mq.drop_queue('pdl');
SELECT mq.drop_queue('p1');
SELECT count(*) AS tables_left FROM pg_class
 WHERE relnamespace = 'mq'::regnamespace AND relname ~ '^(q[0-9]*|a)_(p|pw|pdl|p1)(_|$)';
REVOKE USAGE ON SCHEMA mq FROM mq_part_reader;
DROP ROLE mq_part_reader;
