-- send, send_batch and read: ordering, leases, deliveries, delays.
\i test/sql/setup.inc

SELECT mq.create_queue('work', visibility_timeout => '1 hour');

-- ids increase; payload and headers come back as sent.
SELECT mq.send('work', '{"task": "a"}') AS id1 \gset
SELECT mq.send('work', '{"task": "b"}', headers => '{"traceparent": "00-abc-def-01"}') AS id2 \gset
SELECT :id2 > :id1 AS increasing;

SELECT array_agg(id ORDER BY ord) = array_agg(id ORDER BY id) AS ids_in_input_order, count(*)
FROM mq.send_batch('work', ARRAY['{"task": "c"}', '{"task": "d"}', '{"task": "e"}']::jsonb[])
     WITH ORDINALITY AS t(id, ord);

SELECT depth, in_flight, delayed FROM mq.queues WHERE queue_name = 'work';

-- Oldest first; a read leases: deliveries 1, vt about an hour away.
SELECT payload->>'task' AS task, headers, deliveries,
       vt > now() + interval '59 minutes' AS leased_an_hour
FROM mq.read('work', 2);

-- Leased messages are invisible to the next read, which takes the batch.
SELECT payload->>'task' AS task, deliveries FROM mq.read('work', 10);
SELECT count(*) FROM mq.read('work', 10);
SELECT depth, in_flight, delayed FROM mq.queues WHERE queue_name = 'work';
-- A lease must last some time: vt => 0 is refused (22023); peek looks
-- without taking.  A short lease makes the message visible again soon.
SELECT mq.send('work', '{"task": "f"}') AS idf \gset
SELECT pg_temp.err($$SELECT mq.read('work', 1, vt => '0 seconds')$$);
SELECT payload->>'task' AS task, deliveries FROM mq.read('work', 1, vt => '1 ms');
SELECT pg_sleep(0.01) AS lease_over \gset
SELECT payload->>'task' AS task, deliveries FROM mq.read('work', 1);

-- set_vt makes a leased message visible again; NULL for an unknown id.
SELECT mq.set_vt('work', :id1, '0 seconds') <= clock_timestamp() AS visible_now;
SELECT payload->>'task' AS task, deliveries FROM mq.read('work');
SELECT mq.set_vt('work', -5, '1 second') IS NULL AS no_such_message;

-- A delayed message is invisible until due.
SELECT mq.purge('work');
SELECT mq.send('work', '{"task": "later"}', delay => '1 second') AS delayed_id \gset
SELECT mq.send('work', '{"task": "now"}') AS now_id \gset
SELECT payload->>'task' AS task FROM mq.read('work', 10);
SELECT delayed FROM mq.queues WHERE queue_name = 'work';
-- bounded wait for the delay to pass
DO $$
BEGIN
  FOR i IN 1..100 LOOP
    EXIT WHEN EXISTS (SELECT 1 FROM mq.q_work WHERE payload->>'task' = 'later'
                      AND vt <= clock_timestamp());
    PERFORM pg_sleep(0.05);
  END LOOP;
END $$;
SELECT payload->>'task' AS task, deliveries FROM mq.read('work', 10);

-- send_batch with a delay and headers; an empty batch sends nothing.
SELECT count(*) FROM mq.send_batch('work', ARRAY['{"x":1}', '{"x":2}']::jsonb[],
                                   '{"h": true}', '1 hour');
SELECT count(*) FROM mq.send_batch('work', ARRAY[]::jsonb[]);
SELECT delayed FROM mq.queues WHERE queue_name = 'work';
SELECT count(*) FROM mq.read('work', 10);

-- Oldest visible first also when an older message comes back.
SELECT mq.purge('work');
SELECT mq.send('work', '{"n": 1}') AS a \gset
SELECT mq.send('work', '{"n": 2}') AS b \gset
SELECT id = :a AS got_first FROM mq.read('work');
SELECT mq.send('work', '{"n": 3}') AS c \gset
SELECT mq.nack('work', :a);
SELECT payload->>'n' AS n, deliveries FROM mq.read('work', 3);

-- Many messages, read in batches, all exactly once and in order.
SELECT mq.purge('work');
SELECT count(*) FROM mq.send_batch('work',
    (SELECT array_agg(jsonb_build_object('i', i) ORDER BY i) FROM generate_series(1, 500) i));
CREATE TEMP TABLE got AS SELECT payload FROM mq.read('work', 200);
INSERT INTO got SELECT payload FROM mq.read('work', 200);
INSERT INTO got SELECT payload FROM mq.read('work', 200);
SELECT count(*), count(DISTINCT payload), min((payload->>'i')::int), max((payload->>'i')::int) FROM got;

SELECT mq.drop_queue('work');
