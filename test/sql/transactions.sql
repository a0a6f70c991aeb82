-- Everything rides the caller's transaction.
\i test/sql/setup.inc

SELECT mq.create_queue('tx', visibility_timeout => '1 hour');

-- A send that rolls back never existed; one that commits does.
BEGIN;
SELECT mq.send('tx', '{"n": "rolled back"}') > 0 AS sent;
ROLLBACK;
BEGIN;
SELECT mq.send('tx', '{"n": "committed"}') > 0 AS sent;
COMMIT;
SELECT payload->>'n' AS n FROM mq.read('tx', 10);

-- Outbox: a business row and its message commit or vanish together.
CREATE TABLE orders (id int PRIMARY KEY, total numeric);
BEGIN;
INSERT INTO orders VALUES (1, 9.99);
SELECT mq.send('tx', jsonb_build_object('order', 1)) > 0 AS sent;
COMMIT;
BEGIN;
INSERT INTO orders VALUES (2, 5.00);
SELECT mq.send('tx', jsonb_build_object('order', 2)) > 0 AS sent;
ROLLBACK;
SELECT (SELECT count(*) FROM orders) AS orders,
       (SELECT count(*) FROM mq.q_tx WHERE payload ? 'order') AS messages;

-- (A read that rolls back: rollback.sql.)
SELECT mq.purge('tx');
SELECT mq.send('tx', '{"n": 1}') AS m \gset

-- ack, nack, archive and set_vt that roll back change nothing.
SELECT count(*) FROM mq.read('tx');
BEGIN; SELECT mq.ack('tx', :m); ROLLBACK;
BEGIN; SELECT mq.nack('tx', :m, 'boom'); ROLLBACK;
BEGIN; SELECT mq.archive('tx', :m); ROLLBACK;
BEGIN; SELECT mq.set_vt('tx', :m, '0 seconds') IS NOT NULL AS set; ROLLBACK;
SELECT deliveries, last_error, vt > clock_timestamp() + interval '50 minutes' AS still_leased
FROM mq.q_tx WHERE id = :m;
SELECT count(*) AS archived FROM mq.archived('tx');

-- Consumer pattern: work and ack in one transaction.
CREATE TABLE ledger (msg_id bigint PRIMARY KEY);
SELECT mq.set_vt('tx', :m, '0 seconds') IS NOT NULL AS reset;
BEGIN;
WITH msg AS (SELECT * FROM mq.read('tx'))
INSERT INTO ledger SELECT id FROM msg RETURNING msg_id = :m AS got;
SELECT mq.ack('tx', :m);
COMMIT;
SELECT (SELECT count(*) FROM ledger) AS done, (SELECT count(*) FROM mq.q_tx) AS left_in_queue;

-- Savepoints: a rolled-back savepoint undoes just its sends and acks.
BEGIN;
SELECT mq.send('tx', '{"sp": "kept"}') > 0 AS sent;
SAVEPOINT s1;
SELECT mq.send('tx', '{"sp": "undone"}') > 0 AS sent;
ROLLBACK TO SAVEPOINT s1;
COMMIT;
SELECT payload->>'sp' AS sp FROM mq.q_tx ORDER BY id;

-- Savepoints undo just their own send_batch, ack, nack and archive.
SELECT mq.purge('tx') >= 0 AS purged;
SELECT mq.send_batch('tx', ARRAY['{"m": 1}', '{"m": 2}', '{"m": 3}', '{"m": 4}']::jsonb[]) IS NOT NULL AS sent;
BEGIN;
SELECT array_agg(id ORDER BY id) AS ids FROM mq.read('tx', 4, '1 hour') \gset
SELECT mq.ack('tx', (:'ids'::bigint[])[1]) AS acked_kept;
SAVEPOINT a;
SELECT mq.ack('tx', (:'ids'::bigint[])[2]) AS acked_undone;
SELECT mq.nack('tx', (:'ids'::bigint[])[3], 'undone', '0') AS nacked_undone;
SELECT mq.archive('tx', (:'ids'::bigint[])[4]) AS archived_undone;
SELECT count(*) AS sent_undone FROM mq.send_batch('tx', ARRAY['{"m": 5}', '{"m": 6}']::jsonb[]);
ROLLBACK TO SAVEPOINT a;
SELECT mq.nack('tx', (:'ids'::bigint[])[3], 'kept', '1 hour') AS nacked_kept;
SAVEPOINT b;
SELECT mq.ack('tx', :'ids'::bigint[]) AS acked_undone;
ROLLBACK TO SAVEPOINT b;
COMMIT;
SELECT payload->>'m' AS m, deliveries, leased, last_error FROM mq.q_tx ORDER BY id;
SELECT count(*) AS archived FROM mq.archived('tx');

DROP TABLE orders, ledger;
SELECT mq.drop_queue('tx');
