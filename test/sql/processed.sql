-- mq.mark_processed: the idempotent-consumer record (docs/patterns.md,
-- pattern 3), kept per queue for the roles that consume it.  Concurrent
-- calls: test/specs/iso_processed.spec.
\i test/sql/setup.inc
SELECT mq.create_queue('billing');
SELECT mq.create_queue('shipping');
SELECT mq.mark_processed('billing', 'order-1') AS first;
SELECT mq.mark_processed('billing', 'order-1') AS again;
SELECT mq.mark_processed('shipping', 'order-1') AS other_queue;
-- rolled back with its transaction (and savepoint)
BEGIN;
SELECT mq.mark_processed('billing', 'order-2') AS first;
ROLLBACK;
BEGIN;
SAVEPOINT s;
SELECT mq.mark_processed('billing', 'order-2') AS first;
ROLLBACK TO SAVEPOINT s;
SELECT mq.mark_processed('billing', 'order-2') AS first_after_savepoint;
COMMIT;
-- keep: an expired record counts as not processed
SELECT mq.mark_processed('billing', 'order-3', keep => '0') AS first;
SELECT mq.mark_processed('billing', 'order-3') AS expired_so_first;
SELECT queue_name, key, expires_at > now() + interval '6 days' AS kept_a_week
  FROM mq.processed ORDER BY 1, 2;
-- errors record nothing
SELECT pg_temp.err($$SELECT mq.mark_processed(NULL, 'k')$$);
SELECT pg_temp.err($$SELECT mq.mark_processed('billing', NULL)$$);
SELECT pg_temp.err($$SELECT mq.mark_processed('billing', 'k', NULL)$$);
SELECT pg_temp.err($$SELECT mq.mark_processed('billing', 'k', '-1 day')$$);
SELECT pg_temp.err($$SELECT mq.mark_processed('billing', repeat('k', 513))$$);
SELECT pg_temp.err($$SELECT mq.mark_processed('no_such_queue', 'k')$$);
SELECT count(*) AS records_for_k FROM mq.processed WHERE key = 'k';
-- Only roles that consume a queue see or record its keys: a role that may
-- send cannot plant "order-9 is done" for billing's consumers, nor learn
-- which orders they processed.
CREATE ROLE mq_proc_consumer;
CREATE ROLE mq_proc_producer;
SELECT mq.grant('billing', 'consume', 'mq_proc_consumer');
SELECT mq.grant('billing', 'send', 'mq_proc_producer');
SET ROLE mq_proc_producer;
SELECT pg_temp.err($$SELECT mq.mark_processed('billing', 'order-9')$$);
SELECT pg_temp.err($$SELECT count(*) FROM mq.processed$$);
SELECT pg_temp.err($$INSERT INTO mq.processed (queue_name, key, expires_at) VALUES ('billing', 'order-9', 'infinity')$$);
SET ROLE mq_proc_consumer;
SELECT mq.mark_processed('billing', 'order-9') AS consumer_first;
SELECT mq.mark_processed('billing', 'order-9') AS consumer_again;
RESET ROLE;
-- A dropped queue takes its keys along; a new queue of that name starts clean.
SELECT mq.drop_queue('shipping');
SELECT mq.create_queue('shipping');
SELECT mq.mark_processed('shipping', 'order-1') AS first_in_new_queue;
SELECT mq.drop_queue('billing');
SELECT mq.drop_queue('shipping');
SELECT count(*) AS left_over FROM mq.processed;
DROP ROLE mq_proc_consumer;
DROP ROLE mq_proc_producer;
