-- Waiting reads (mq.read's wait and consumer_priority), mq.alter_queue and
-- the notify option: the SQL surface.  Wake-ups, timing and concurrency are
-- tested by test/client/wait.c.  Without shared_preload_libraries every wait
-- is refused with 55000 (expected/wait_1.out).
\i test/sql/setup.inc
SELECT mq.create_queue('w1');

-- A message is there: a waiting read returns it at once.
SELECT mq.send('w1', '{"n": 1}') AS id1 \gset
SELECT id = :id1 AS got_it, payload FROM mq.read('w1', 1, NULL, '10 s');

-- Nothing there: it waits, and returns an empty set when wait elapses.
SELECT count(*) AS got FROM mq.read('w1', 1, NULL, '200 ms');

-- Named arguments, priority; a NULL priority means 0.
SELECT mq.send('w1', '{"n": 2}') AS id2 \gset
SELECT id = :id2 AS got_it FROM mq.read('w1', wait => '5 s', consumer_priority => 7);
SELECT count(*) AS got FROM mq.read('w1', 1, NULL, '100 ms', NULL);

-- wait NULL or zero does not wait (and works without preload).
SELECT count(*) AS got FROM mq.read('w1', 1, NULL, NULL);
SELECT count(*) AS got FROM mq.read('w1', 1, NULL, '0');

-- A negative wait is refused before anything happens (22023).
SELECT mq.send('w1', '{"n": 3}') AS id3 \gset
SELECT pg_temp.err($$SELECT * FROM mq.read('w1', 1, NULL, '-1 s')$$);
SELECT depth, in_flight FROM mq.queues WHERE queue_name = 'w1';

-- REPEATABLE READ / SERIALIZABLE: the snapshot is fixed, so a wait could
-- never see a new message; refused (0A000), nothing claimed.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT pg_temp.err($$SELECT * FROM mq.read('w1', 1, NULL, '1 s')$$);
-- without wait it reads as usual (and gives the message back)
SELECT id = :id3 AS got_it FROM mq.read('w1');
SELECT mq.set_vt('w1', :id3, '0') IS NOT NULL AS given_back;
COMMIT;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT pg_temp.err($$SELECT * FROM mq.read('w1', 1, NULL, '1 s')$$);
ROLLBACK;
SELECT depth, in_flight FROM mq.queues WHERE queue_name = 'w1';
SELECT id = :id3 AS got_it FROM mq.read('w1');

-- statement_timeout interrupts a waiter (57014) and frees its slot; the
-- session can wait again afterwards.
\set VERBOSITY sqlstate
SET statement_timeout = '300ms';
SELECT * FROM mq.read('w1', 1, NULL, '30 s');
RESET statement_timeout;
\set VERBOSITY default
SELECT waiting FROM mq.queues WHERE queue_name = 'w1';
SELECT count(*) AS got FROM mq.read('w1', 1, NULL, '50 ms');
SELECT waiting FROM mq.queues WHERE queue_name = 'w1';

-- Waiting on a queue that does not exist: 42704, not a wait.
SELECT pg_temp.err($$SELECT * FROM mq.read('nope', 1, NULL, '10 s')$$);

-- notify: off by default, on at creation, changed by mq.alter_queue.
SELECT mq.create_queue('w_notify', notify => true);
SELECT queue_name, notify, visibility_timeout FROM mq.queues
 WHERE queue_name IN ('w1', 'w_notify') ORDER BY 1;
SELECT mq.alter_queue('w1', notify => true);
SELECT mq.alter_queue('w_notify', visibility_timeout => '1 minute', notify => false);
SELECT mq.alter_queue('w_notify');		-- nothing to change
SELECT queue_name, notify, visibility_timeout FROM mq.queues
 WHERE queue_name IN ('w1', 'w_notify') ORDER BY 1;
-- the new visibility timeout applies to the next read at once
SELECT mq.send('w_notify', '{"vt": 1}') AS idv \gset
SELECT vt > now() + interval '50 seconds' AS leased_a_minute FROM mq.read('w_notify');

-- mq.alter_queue errors change nothing.
SELECT pg_temp.err($$SELECT mq.alter_queue('nope', notify => true)$$);
SELECT pg_temp.err($$SELECT mq.alter_queue('w1', visibility_timeout => '0')$$);
SELECT pg_temp.err($$SELECT mq.alter_queue('w1', visibility_timeout => '-5 s')$$);
SELECT pg_temp.err($$SELECT mq.alter_queue('W1', notify => false)$$);
SELECT pg_temp.err($$SELECT mq.alter_queue(NULL, notify => false)$$);
SELECT queue_name, notify, visibility_timeout FROM mq.queues
 WHERE queue_name IN ('w1', 'w_notify') ORDER BY 1;

-- A sender never runs NOTIFY itself, so a notify queue works under
-- PREPARE TRANSACTION (a NOTIFY would make PREPARE fail with 0A000).
SELECT mq.alter_queue('w_notify', notify => true);
BEGIN;
SELECT mq.send('w_notify', '{"prepared": 1}') > 0 AS sent;
PREPARE TRANSACTION 'mq_wait_notify';
SELECT count(*) AS before_commit FROM mq.read('w_notify', 5);
COMMIT PREPARED 'mq_wait_notify';
SELECT payload FROM mq.read('w_notify', 5);
-- a plain NOTIFY, for contrast
BEGIN;
NOTIFY some_channel;
\set VERBOSITY sqlstate
PREPARE TRANSACTION 'mq_wait_plain_notify';
\set VERBOSITY default
SELECT count(*) AS prepared FROM pg_prepared_xacts;

SELECT mq.drop_queue('w1');
SELECT mq.drop_queue('w_notify');
