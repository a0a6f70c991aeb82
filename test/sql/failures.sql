-- The failure record of a message (failures, first_error, last_error,
-- failed_at), leases that expire counting as failed deliveries, a read
-- dead-lettering a message whose last allowed lease expired, and the
-- per-queue failure counters of mq.queues.  The counters live in shared
-- memory: without mq preloaded they are NULL (expected/failures_1.out).
\i test/sql/setup.inc
SELECT mq.create_queue('fq_dlq');
SELECT mq.create_queue('fq', max_deliveries => 3, dead_letter_queue => 'fq_dlq');
SELECT mq.send('fq', '{"n": 1}', '{"trace": "t1"}') AS id \gset

-- a fresh message has no failures
SELECT failures, first_error, last_error, failed_at FROM mq.q_fq;

-- delivery 1 is nacked: one failure, dated now
SELECT clock_timestamp() AS t0 \gset
SELECT mq.nack('fq', id, 'db down', '0') FROM mq.read('fq');
SELECT clock_timestamp() AS t1 \gset
SELECT deliveries, leased, failures, first_error, last_error,
       failed_at BETWEEN :'t0' AND :'t1' AS failed_in_nack
  FROM mq.q_fq;

-- delivery 2's lease (1 ms) expires; the read of delivery 3 notes
-- it, dated when the lease ended
SELECT clock_timestamp() AS t0 \gset
SELECT deliveries FROM mq.read('fq', 1, '1 ms');
SELECT pg_sleep(0.01) AS lease_over \gset
SELECT clock_timestamp() AS t1 \gset
SELECT deliveries, last_error FROM mq.read('fq', 1, '1 ms');
SELECT pg_sleep(0.01) AS lease_over \gset
SELECT deliveries, failures, first_error, last_error,
       failed_at BETWEEN :'t0' AND :'t1' AS failed_at_lease_end
  FROM mq.q_fq;
SELECT failing FROM mq.queues WHERE queue_name = 'fq';

-- delivery 3 (the last allowed) expired too: the next read moves the
-- message to the dead-letter queue and returns nothing; a rollback
-- undoes that
BEGIN;
SELECT count(*) AS delivered FROM mq.read('fq', 5);
SELECT count(*) AS in_dlq_inside FROM mq.q_fq_dlq;
ROLLBACK;
SELECT deliveries, leased, failures FROM mq.q_fq;
SELECT count(*) AS delivered FROM mq.read('fq', 5);
SELECT count(*) AS left_in_fq FROM mq.q_fq;
SELECT payload, headers->>'trace' AS original_header,
       (headers->'mq_dead_letter'->>'id')::bigint = :id AS origin_id,
       (headers->'mq_dead_letter') - '{id,enqueued_at,dead_at,failed_at}'::text[] AS record,
       (headers->'mq_dead_letter'->>'failed_at')::timestamptz
         < (headers->'mq_dead_letter'->>'dead_at')::timestamptz AS failed_before_dead
  FROM mq.q_fq_dlq;

-- a read past a dead message still fills its qty from the next ones
SELECT mq.send('fq', '{"n": 2}') AS id2 \gset
SELECT mq.send_batch('fq', ARRAY['{"n": 3}', '{"n": 4}']::jsonb[]);
UPDATE mq.q_fq SET deliveries = 3, leased = true WHERE id = :id2;  -- as if its 3rd lease expired
SELECT payload, deliveries FROM mq.read('fq', 2);
SELECT count(*) AS in_dlq FROM mq.q_fq_dlq;
SELECT mq.ack('fq', id) FROM mq.q_fq;

-- without a dead-letter queue, the expired message is archived with both errors
SELECT mq.create_queue('fq_arch', max_deliveries => 1);
SELECT mq.send('fq_arch', '{"n": 5}');
SELECT count(*) FROM mq.read('fq_arch', 1, '1 ms');
SELECT pg_sleep(0.01) AS lease_over \gset
SELECT count(*) AS delivered FROM mq.read('fq_arch', 1);
SELECT deliveries, last_error FROM mq.archived('fq_arch');

-- a nack that dead-letters records its error as the last, keeps the first
SELECT mq.create_queue('fq2', max_deliveries => 2, dead_letter_queue => 'fq_dlq');
SELECT mq.send('fq2', '{"n": 6}');
SELECT mq.nack('fq2', id, 'first', '0') FROM mq.read('fq2');
SELECT mq.nack('fq2', id, 'second') FROM mq.read('fq2');
SELECT (headers->'mq_dead_letter') - '{id,enqueued_at,dead_at,failed_at}'::text[] AS record
  FROM mq.q_fq_dlq WHERE payload->>'n' = '6';

-- a queue without max_deliveries counts failures and redelivers forever
SELECT mq.create_queue('fq3');
SELECT mq.send('fq3', '{"n": 7}');
SELECT count(*) FROM mq.read('fq3', 1, '1 ms');
SELECT pg_sleep(0.01) AS lease_over \gset
SELECT count(*) FROM mq.read('fq3', 1, '1 ms');
SELECT pg_sleep(0.01) AS lease_over \gset
SELECT mq.nack('fq3', id, NULL, '0') FROM mq.read('fq3');
SELECT deliveries, failures, first_error, last_error FROM mq.q_fq3;

-- counters: only committed failures count; a rolled-back savepoint's don't
SELECT nacks, lease_expiries, dead_letters FROM mq.queues WHERE queue_name = 'fq3';
SELECT mq.send('fq3', '{"n": 8}');
BEGIN;
SELECT array_agg(id ORDER BY id) AS ids FROM mq.read('fq3', 2, '1 ms') \gset
SELECT pg_sleep(0.01) AS lease_over \gset
SELECT mq.nack('fq3', (:'ids'::bigint[])[1], 'kept', '0');
SAVEPOINT s;
SELECT mq.nack('fq3', (:'ids'::bigint[])[2], 'undone', '0');
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT id AS held FROM mq.read('fq3', 1, '1 hour') \gset
BEGIN;
SELECT mq.nack('fq3', :held, 'rolled back', '0');
ROLLBACK;
SELECT payload, deliveries, failures, last_error FROM mq.q_fq3 ORDER BY id;
SELECT queue_name, failing, nacks, lease_expiries, dead_letters
  FROM mq.queues WHERE queue_name LIKE 'fq%' ORDER BY queue_name;

SELECT mq.drop_queue('fq'); SELECT mq.drop_queue('fq2');
SELECT mq.drop_queue('fq3'); SELECT mq.drop_queue('fq_arch'); SELECT mq.drop_queue('fq_dlq');
