-- ack, nack, archive, archived, purge.
\i test/sql/setup.inc

SELECT mq.create_queue('jobs', visibility_timeout => '1 hour');
SELECT count(*) FROM mq.send_batch('jobs',
    (SELECT array_agg(jsonb_build_object('i', i) ORDER BY i) FROM generate_series(1, 6) i));
CREATE TEMP TABLE ids AS SELECT array_agg(id ORDER BY id) AS a FROM mq.q_jobs;
SELECT (SELECT a[1] FROM ids) AS m1, (SELECT a[2] FROM ids) AS m2, (SELECT a[3] FROM ids) AS m3,
       (SELECT a[4] FROM ids) AS m4, (SELECT a[5] FROM ids) AS m5, (SELECT a[6] FROM ids) AS m6 \gset

-- ack removes; a second ack finds nothing.
SELECT count(*) FROM mq.read('jobs', 6);
SELECT mq.ack('jobs', :m1);
SELECT mq.ack('jobs', :m1);
-- array form counts what it removed (unknown and repeated ids are ignored).
SELECT mq.ack('jobs', ARRAY[:m2, :m3, :m2, -1]::bigint[]);
SELECT mq.ack('jobs', ARRAY[]::bigint[]);
SELECT count(*) FROM mq.q_jobs;

-- nack: visible again now, error kept as last_error; deliveries kept.
SELECT mq.nack('jobs', :m4, 'timeout talking to the bank');
SELECT id = :m4 AS same, deliveries FROM mq.read('jobs');
SELECT last_error FROM mq.q_jobs WHERE id = :m4;
-- nack with a delay: not visible until then.
SELECT mq.nack('jobs', :m4, 'again', '1 hour');
SELECT count(*) FROM mq.read('jobs');
SELECT delayed, in_flight FROM mq.queues WHERE queue_name = 'jobs';
-- nack without error keeps the previous one; unknown id is false.
SELECT mq.nack('jobs', :m4, delay => '1 hour');
SELECT last_error FROM mq.q_jobs WHERE id = :m4;
SELECT mq.nack('jobs', -1, 'nothing');

-- archive moves a message with its history; archived lists it.
SELECT mq.archive('jobs', :m4);
SELECT mq.archive('jobs', :m4);
SELECT mq.archive('jobs', ARRAY[:m5, :m6, -7]::bigint[]);
SELECT id = :m4 AS is_m4, payload, deliveries, last_error, archived_at >= enqueued_at AS ordered
FROM mq.archived('jobs') ORDER BY id;
SELECT depth, in_flight, delayed, archived FROM mq.queues WHERE queue_name = 'jobs';

-- purge empties the queue (not the archive) and counts.
SELECT count(*) FROM mq.send_batch('jobs', ARRAY['{}', '{}', '{}']::jsonb[]);
SELECT mq.purge('jobs');
SELECT mq.purge('jobs');
SELECT depth, archived FROM mq.queues WHERE queue_name = 'jobs';

-- Operations on unknown queues: 42704.
SELECT pg_temp.err($$SELECT mq.ack('nope', 1)$$);
SELECT pg_temp.err($$SELECT mq.ack('nope', ARRAY[1]::bigint[])$$);
SELECT pg_temp.err($$SELECT mq.nack('nope', 1)$$);
SELECT pg_temp.err($$SELECT mq.archive('nope', 1)$$);
SELECT pg_temp.err($$SELECT mq.archive('nope', ARRAY[1]::bigint[])$$);
SELECT pg_temp.err($$SELECT * FROM mq.archived('nope')$$);
SELECT pg_temp.err($$SELECT mq.set_vt('nope', 1, '1 second')$$);
SELECT pg_temp.err($$SELECT mq.purge('nope')$$);
SELECT pg_temp.err($$SELECT * FROM mq.read('nope')$$);
SELECT pg_temp.err($$SELECT mq.send('nope', '{}')$$);
SELECT pg_temp.err($$SELECT * FROM mq.send_batch('nope', ARRAY['{}']::jsonb[])$$);

SELECT mq.drop_queue('jobs');
