-- mq.mark_processed: the idempotent-consumer record (docs/patterns.md,
-- pattern 3).  Concurrent calls: test/specs/iso_processed.spec.
\i test/sql/setup.inc
SELECT mq.mark_processed('billing', 'order-1') AS first;
SELECT mq.mark_processed('billing', 'order-1') AS again;
SELECT mq.mark_processed('shipping', 'order-1') AS other_consumer;
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
SELECT consumer, key, expires_at > now() + interval '6 days' AS kept_a_week
  FROM mq.processed ORDER BY 1, 2;
-- errors record nothing
SELECT pg_temp.err($$SELECT mq.mark_processed(NULL, 'k')$$);
SELECT pg_temp.err($$SELECT mq.mark_processed('c', NULL)$$);
SELECT pg_temp.err($$SELECT mq.mark_processed('c', 'k', NULL)$$);
SELECT pg_temp.err($$SELECT mq.mark_processed('c', 'k', '-1 day')$$);
SELECT count(*) AS records_for_c FROM mq.processed WHERE consumer = 'c';
DELETE FROM mq.processed;
