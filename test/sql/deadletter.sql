-- max_deliveries and dead_letter_queue: a nack of a message's last allowed
-- delivery moves it to the dead-letter queue (or the archive), atomically;
-- mq.redrive moves dead letters back.
\i test/sql/setup.inc
SELECT mq.create_queue('jobs_dlq');
SELECT mq.create_queue('jobs', max_deliveries => 3, dead_letter_queue => 'jobs_dlq');
SELECT max_deliveries, dead_letter_queue FROM mq.queue WHERE queue_name = 'jobs';
SELECT mq.send('jobs', '{"job": 1}', '{"traceparent": "00-abc-01"}') AS id \gset

-- deliveries 1 and 2 fail: back to the queue; delivery 3 fails: dead
SELECT mq.nack('jobs', id, 'timeout 1', '0') FROM mq.read('jobs');
SELECT mq.nack('jobs', id, 'timeout 2', '0') FROM mq.read('jobs');
SELECT deliveries, last_error FROM mq.q_jobs;
SELECT mq.nack('jobs', id, 'timeout 3') FROM mq.read('jobs');
SELECT count(*) AS left_in_jobs FROM mq.q_jobs;
SELECT payload, headers->>'traceparent' AS original_header,
       headers->'mq_dead_letter'->>'queue' AS origin,
       (headers->'mq_dead_letter'->>'id')::bigint = :id AS origin_id,
       headers->'mq_dead_letter'->>'deliveries' AS deliveries,
       headers->'mq_dead_letter'->>'last_error' AS last_error,
       headers->'mq_dead_letter'->>'reason' AS reason,
       deliveries AS dlq_deliveries
  FROM mq.q_jobs_dlq;

-- dead-lettering rides the transaction: rolled back, the message stays
SELECT mq.send('jobs', '{"job": 2}') AS id2 \gset
SELECT mq.set_vt('jobs', :id2, '0') IS NOT NULL FROM (SELECT mq.read('jobs')) r;
UPDATE mq.q_jobs SET deliveries = 3 WHERE id = :id2;   -- as if read 3 times
BEGIN;
SELECT mq.nack('jobs', :id2, 'boom');
SELECT count(*) AS in_dlq_inside FROM mq.q_jobs_dlq;
ROLLBACK;
SELECT count(*) AS in_jobs, (SELECT count(*) FROM mq.q_jobs_dlq) AS in_dlq FROM mq.q_jobs;

-- the dead-letter queue is an ordinary queue: readable, ackable
SELECT payload FROM mq.read('jobs_dlq', 10);

-- redrive: back to the origin, deliveries reset, history kept
SELECT mq.set_vt('jobs_dlq', id, '0') IS NOT NULL FROM mq.q_jobs_dlq;
SELECT mq.redrive('jobs_dlq');
SELECT count(*) AS left_in_dlq FROM mq.q_jobs_dlq;
SELECT payload, deliveries, headers->>'traceparent' AS original_header,
       headers ? 'mq_dead_letter' AS still_dead,
       jsonb_array_length(headers->'mq_history') AS history,
       headers->'mq_history'->0->>'last_error' AS history_error
  FROM mq.q_jobs WHERE payload->>'job' = '1';

-- redrive to another queue, at most N
SELECT mq.create_queue('jobs_retry');
UPDATE mq.q_jobs SET deliveries = 3;
SELECT count(mq.nack('jobs', id, 'again')) FROM mq.q_jobs;
SELECT count(*) AS in_dlq FROM mq.q_jobs_dlq;
SELECT mq.redrive('jobs_dlq', 'jobs_retry', max_messages => 1);
SELECT mq.redrive('jobs_dlq', 'jobs_retry');
SELECT count(*) AS in_retry FROM mq.q_jobs_retry;

-- without a dead-letter queue: archived with the reason
SELECT mq.create_queue('jobs_arch', max_deliveries => 1);
SELECT mq.send('jobs_arch', '{"job": 3}') AS id3 \gset
SELECT mq.nack('jobs_arch', id, 'fatal') FROM mq.read('jobs_arch');
SELECT count(*) AS left FROM mq.q_jobs_arch;
SELECT id = :id3 AS same_id, deliveries, last_error FROM mq.archived('jobs_arch');

-- options: alter sets and removes them; without a limit nack never dead-letters
SELECT mq.alter_queue('jobs', max_deliveries => 0, dead_letter_queue => '');
SELECT max_deliveries, dead_letter_queue FROM mq.queue WHERE queue_name = 'jobs';
SELECT mq.send('jobs', '{"job": 4}') AS id4 \gset
UPDATE mq.q_jobs SET deliveries = 100 WHERE id = :id4;
SELECT mq.nack('jobs', :id4, 'x', '0');
SELECT deliveries FROM mq.q_jobs WHERE id = :id4;
SELECT mq.alter_queue('jobs', max_deliveries => 5, dead_letter_queue => 'jobs_retry');
SELECT max_deliveries, dead_letter_queue FROM mq.queue WHERE queue_name = 'jobs';

-- errors change nothing
SELECT pg_temp.err($$SELECT mq.create_queue('bad_q', dead_letter_queue => 'nope')$$);
SELECT pg_temp.err($$SELECT mq.create_queue('bad_q', dead_letter_queue => 'bad_q')$$);
SELECT pg_temp.err($$SELECT mq.create_queue('bad_q', dead_letter_queue => 'Bad')$$);
SELECT pg_temp.err($$SELECT mq.create_queue('bad_q', max_deliveries => -1)$$);
SELECT pg_temp.err($$SELECT mq.alter_queue('jobs', dead_letter_queue => 'jobs')$$);
SELECT pg_temp.err($$SELECT mq.alter_queue('jobs', dead_letter_queue => 'nope')$$);
SELECT pg_temp.err($$SELECT mq.redrive('nope')$$);
SELECT pg_temp.err($$SELECT mq.redrive('jobs_dlq', 'nope')$$);
SELECT pg_temp.err($$SELECT mq.redrive('jobs_dlq', 'jobs_dlq')$$);
SELECT pg_temp.err($$SELECT mq.redrive('jobs_dlq', max_messages => -1)$$);
SELECT pg_temp.err($$SELECT mq.drop_queue('jobs_retry')$$);
SELECT count(*) AS jobs_retry_kept FROM mq.q_jobs_retry;
SELECT count(*) AS bad_q FROM mq.queue WHERE queue_name = 'bad_q';
SELECT max_deliveries, dead_letter_queue FROM mq.queue WHERE queue_name = 'jobs';
-- a message with no origin cannot be redriven without a target; nothing moves
SELECT mq.send('jobs_dlq', '{"stray": true}') > 0 AS sent;
SELECT pg_temp.err($$SELECT mq.redrive('jobs_dlq')$$);
SELECT count(*) AS still_in_dlq FROM mq.q_jobs_dlq;

SELECT mq.drop_queue('jobs');
SELECT mq.drop_queue('jobs_dlq');
SELECT mq.drop_queue('jobs_retry');
SELECT mq.drop_queue('jobs_arch');
