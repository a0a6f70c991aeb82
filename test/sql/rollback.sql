-- A delivery whose transaction (or savepoint) rolls back still counts as a
-- failed delivery (rollback.c): the database's mq worker records it, with
-- the queue's backoff, and dead-letters a message with no delivery left.
-- Without shared memory (mq not preloaded) nothing can outlive the
-- rollback: rollback_1.out shows that case.
\i test/sql/setup.inc

-- recorded(queue, n): wait (up to 30 s) until the worker has recorded n
-- rolled-back deliveries of the queue, as counted in mq.queues.
CREATE FUNCTION pg_temp.recorded(q text, n bigint) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
  r bigint;
BEGIN
  FOR i IN 1..3000 LOOP
    SELECT rollbacks INTO r FROM mq.queues WHERE queue_name = q;
    IF r IS NULL THEN
      RETURN 'not counted';
    ELSIF r >= n THEN
      RETURN 'recorded ' || r;
    END IF;
    PERFORM pg_sleep(0.01);
  END LOOP;
  RETURN 'timed out at ' || r;
END $f$;

-- BEGIN; read; ROLLBACK five times, max_deliveries 3: three deliveries,
-- each counted; the third ends in the dead-letter queue with its record,
-- and the last two reads find nothing.
SELECT mq.create_queue('rb_dlq');
SELECT mq.create_queue('rb', max_deliveries => 3, dead_letter_queue => 'rb_dlq');
SELECT mq.send('rb', '{"poison": true}', headers => '{"trace": "p1"}') AS poison \gset
BEGIN;
SELECT id = :poison AS got_poison, deliveries FROM mq.read('rb');
ROLLBACK;
SELECT pg_temp.recorded('rb', 1);
SELECT deliveries, failures, last_error, first_error, leased, vt <= now() AS visible
  FROM mq.q_rb WHERE id = :poison;
BEGIN;
SELECT id = :poison AS got_poison, deliveries FROM mq.read('rb');
ROLLBACK;
SELECT pg_temp.recorded('rb', 2);
BEGIN;
SELECT id = :poison AS got_poison, deliveries FROM mq.read('rb');
ROLLBACK;
SELECT pg_temp.recorded('rb', 3);
BEGIN;
SELECT count(*) AS delivered FROM mq.read('rb');
ROLLBACK;
BEGIN;
SELECT count(*) AS delivered FROM mq.read('rb');
ROLLBACK;
SELECT count(*) AS left_in_rb FROM mq.q_rb;
SELECT payload, headers->>'trace' AS trace,
       (headers->'mq_dead_letter'->>'id')::bigint = :poison AS origin_id,
       (headers->'mq_dead_letter') - '{id,enqueued_at,dead_at,failed_at}'::text[] AS record
  FROM mq.q_rb_dlq;
SELECT nacks, lease_expiries, rollbacks, dead_letters FROM mq.queues WHERE queue_name = 'rb';

-- A savepoint rolled back around the read counts; the transaction goes on.
SELECT mq.send('rb', '{"n": 1}') AS m1 \gset
BEGIN;
SAVEPOINT s;
SELECT id = :m1 AS got_it FROM mq.read('rb');
ROLLBACK TO SAVEPOINT s;
SELECT mq.send('rb', '{"n": 2}') > :m1 AS still_usable;
COMMIT;
SELECT pg_temp.recorded('rb', 4);
SELECT payload, deliveries, failures, last_error FROM mq.q_rb ORDER BY id;

-- A read in a savepoint that was released counts when the transaction
-- rolls back; a read whose transaction commits does not count; an ack
-- inside a rolled-back transaction is undone with the read, which counts.
BEGIN;
SAVEPOINT s;
SELECT payload FROM mq.read('rb', 1, '1 hour');
RELEASE SAVEPOINT s;
ROLLBACK;
SELECT pg_temp.recorded('rb', 5);
BEGIN;
SELECT mq.ack('rb', id) FROM mq.read('rb', 1, '1 hour');
ROLLBACK;
SELECT pg_temp.recorded('rb', 6);
SELECT payload, deliveries, failures, last_error FROM mq.q_rb ORDER BY id;
SELECT count(*) AS committed_read FROM mq.read('rb', 1, '1 hour');
SELECT rollbacks FROM mq.queues WHERE queue_name = 'rb';

-- The queue's retry backoff applies as after a nack (1 hour x 2^0 x [0.5, 1)).
SELECT mq.create_queue('rb_slow', retry_delay => '1 hour');
SELECT mq.send('rb_slow', '{}') AS s1 \gset
BEGIN;
SELECT count(*) FROM mq.read('rb_slow');
ROLLBACK;
SELECT pg_temp.recorded('rb_slow', 1);
SELECT deliveries, failures, leased,
       vt BETWEEN now() + interval '29 minutes' AND now() + interval '61 minutes' AS backed_off
  FROM mq.q_rb_slow;
SELECT count(*) AS delivered FROM mq.read('rb_slow');

-- Prepared: COMMIT PREPARED keeps the lease, ROLLBACK PREPARED counts.
SELECT mq.create_queue('rb_2pc');
SELECT mq.send('rb_2pc', '{"n": "committed"}') AS p1 \gset
SELECT mq.send('rb_2pc', '{"n": "rolled back"}') AS p2 \gset
BEGIN;
SELECT payload FROM mq.read('rb_2pc', 1, '1 hour');
PREPARE TRANSACTION 'mq_rb_1';
BEGIN;
SELECT payload FROM mq.read('rb_2pc', 1, '1 hour');
PREPARE TRANSACTION 'mq_rb_2';
COMMIT PREPARED 'mq_rb_1';
ROLLBACK PREPARED 'mq_rb_2';
SELECT pg_temp.recorded('rb_2pc', 1);
SELECT payload, deliveries, failures, last_error, leased FROM mq.q_rb_2pc ORDER BY id;

-- Neither pop nor peek is a delivery: rolling them back counts nothing.
SELECT mq.create_queue('rb_pop');
SELECT mq.send('rb_pop', '{}') AS q1 \gset
BEGIN;
SELECT count(*) AS popped FROM mq.pop('rb_pop');
ROLLBACK;
BEGIN;
SELECT count(*) AS peeked FROM mq.peek('rb_pop');
ROLLBACK;
SELECT deliveries, failures FROM mq.q_rb_pop;
SELECT rollbacks FROM mq.queues WHERE queue_name = 'rb_pop';

-- A consumer loop in PL/pgSQL: read, work, ack, one transaction per
-- message; the work raises on one poison message, the exception block
-- rolls that message's savepoint back.  The poison ends in the dead-letter
-- queue after max_deliveries attempts; the others are processed once.
SELECT mq.create_queue('rb_work', max_deliveries => 3, dead_letter_queue => 'rb_dlq');
CREATE TABLE rb_ledger (n int, msg_id bigint);
SELECT count(*) AS sent FROM mq.send_batch('rb_work',
  (SELECT array_agg(jsonb_build_object('n', g) ORDER BY g) FROM generate_series(1, 10) g));
CREATE PROCEDURE pg_temp.consume(max_rounds int) LANGUAGE plpgsql AS $p$
DECLARE
  m record;
  got boolean;
BEGIN
  FOR round IN 1..max_rounds LOOP
    EXIT WHEN NOT EXISTS (SELECT 1 FROM mq.q_rb_work);
    got := false;
    BEGIN
      SELECT * INTO m FROM mq.read('rb_work', 1, '1 hour');
      got := FOUND;
      IF got THEN
        INSERT INTO rb_ledger VALUES ((m.payload->>'n')::int, m.id);
        IF m.payload->>'n' = '5' THEN
          RAISE EXCEPTION 'cannot process message %', m.id;
        END IF;
        PERFORM mq.ack('rb_work', m.id);
      END IF;
    EXCEPTION WHEN raise_exception THEN
      NULL;  -- the block's savepoint is rolled back: a failed delivery
    END;
    COMMIT;
    IF NOT got THEN
      PERFORM pg_sleep(0.01);  -- nothing to read yet
    END IF;
  END LOOP;
END $p$;
CALL pg_temp.consume(1000);
SELECT count(*) AS processed, count(DISTINCT n) AS distinct_n, max(n) AS max_n,
       count(*) FILTER (WHERE n = 5) AS poison_in_ledger
  FROM rb_ledger;
SELECT count(*) AS left_in_queue FROM mq.q_rb_work;
SELECT payload, headers->'mq_dead_letter'->>'queue' AS origin,
       headers->'mq_dead_letter'->>'deliveries' AS deliveries,
       headers->'mq_dead_letter'->>'last_error' AS last_error
  FROM mq.q_rb_dlq ORDER BY id;

DROP TABLE rb_ledger;
SELECT mq.drop_queue(q) FROM unnest(ARRAY['rb_work', 'rb', 'rb_slow', 'rb_2pc', 'rb_pop', 'rb_dlq']) q;
