-- Retry backoff: mq.nack without a delay applies the queue's retry_delay,
-- doubling with each delivery, capped at retry_delay_max, times a random
-- factor in [0.5, 1).  An explicit delay overrides it.
\i test/sql/setup.inc
SELECT mq.create_queue('rq', retry_delay => '10 seconds', retry_delay_max => '1 minute');
SELECT retry_delay, retry_delay_max FROM mq.queue WHERE queue_name = 'rq';
SELECT mq.send('rq', '{"job": 1}') AS id \gset
CREATE FUNCTION pg_temp.fail_once(expect_deliveries int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE m record; v timestamptz; lo interval; hi interval; t0 timestamptz; t1 timestamptz;
BEGIN
  PERFORM mq.set_vt('rq', id, '0') FROM mq.q_rq;          -- make it visible now
  SELECT * INTO m FROM mq.read('rq');
  IF m.deliveries <> expect_deliveries THEN RETURN 'deliveries ' || m.deliveries; END IF;
  t0 := clock_timestamp();                                -- the nack happens in [t0, t1]
  PERFORM mq.nack('rq', m.id, 'boom ' || m.deliveries);
  t1 := clock_timestamp();
  SELECT vt INTO v FROM mq.q_rq WHERE id = m.id;
  hi := least(interval '10 seconds' * 2 ^ (m.deliveries - 1), interval '1 minute');
  lo := hi * 0.5;
  RETURN CASE WHEN v >= t0 + lo AND v < t1 + hi
              THEN 'delivery ' || m.deliveries || ': backoff within [' || lo || ', ' || hi || ']'
              ELSE 'delivery ' || m.deliveries || ': backoff ' || (v - t0) || ' outside [' || lo || ', ' || hi || ']' END;
END $$;
SELECT pg_temp.fail_once(1);
SELECT pg_temp.fail_once(2);
SELECT pg_temp.fail_once(3);
SELECT pg_temp.fail_once(4);
SELECT pg_temp.fail_once(5);
SELECT last_error, leased FROM mq.q_rq;
-- jitter: many messages nacked at their first delivery spread over [5 s, 10 s)
SELECT count(*) FROM mq.send_batch('rq', array_fill('{}'::jsonb, ARRAY[200]));
BEGIN;   -- now() <= each nack's time <= clock_timestamp() below
SELECT count(mq.nack('rq', id)) FROM mq.read('rq', 200);
SELECT min(vt - now()) >= interval '5 seconds' AND max(vt - clock_timestamp()) < interval '10 seconds' AS in_range,
       count(DISTINCT vt) > 100 AS spread
  FROM mq.q_rq WHERE deliveries = 1;
COMMIT;
SELECT mq.purge('rq');
-- an explicit delay overrides the backoff; '0' means visible at once
SELECT mq.send('rq', '{"job": 2}') AS id2 \gset
SELECT count(*) FROM mq.read('rq');
SELECT mq.nack('rq', :id2, 'now', '0');
SELECT count(*) AS visible_again FROM mq.read('rq');
SELECT mq.nack('rq', :id2, 'later', '1 hour');
SELECT vt > now() + interval '59 minutes' AS an_hour FROM mq.q_rq WHERE id = :id2;
-- a queue without a policy (retry_delay 0) gives a nacked message back at once
SELECT mq.create_queue('rq_plain');
SELECT retry_delay, retry_delay_max FROM mq.queue WHERE queue_name = 'rq_plain';
SELECT mq.send('rq_plain', '{}') AS id3 \gset
SELECT count(*) FROM mq.read('rq_plain');
SELECT mq.nack('rq_plain', :id3, 'x');
SELECT count(*) AS visible_again FROM mq.read('rq_plain');
-- alter_queue sets the policy
SELECT mq.alter_queue('rq_plain', retry_delay => '1 hour', retry_delay_max => '2 hours');
SELECT mq.nack('rq_plain', :id3, 'y');
SELECT vt > now() + interval '29 minutes' AS backed_off FROM mq.q_rq_plain;
-- errors change nothing
SELECT pg_temp.err($$SELECT mq.create_queue('rq_bad', retry_delay => '-1 s')$$);
SELECT pg_temp.err($$SELECT mq.create_queue('rq_bad', retry_delay_max => NULL)$$);
SELECT pg_temp.err($$SELECT mq.alter_queue('rq', retry_delay_max => '-1 s')$$);
SELECT pg_temp.err($$SELECT mq.nack('rq', 1, 'x', '-1 s')$$);
SELECT count(*) AS rq_bad FROM mq.queue WHERE queue_name = 'rq_bad';
SELECT retry_delay, retry_delay_max FROM mq.queue WHERE queue_name = 'rq';
-- a read returns last_error: the latest nack error, or a note that the
-- previous delivery's lease expired without an ack or nack
SELECT mq.create_queue('rq_err');
SELECT mq.send('rq_err', '{}') AS ide \gset
SELECT deliveries, last_error FROM mq.read('rq_err', vt => '1 ms');
SELECT pg_sleep(0.01) AS lease_over \gset
SELECT deliveries, last_error FROM mq.read('rq_err', vt => '1 ms');
SELECT pg_sleep(0.01) AS lease_over \gset
SELECT deliveries, last_error FROM mq.read('rq_err', vt => '1 hour');
SELECT mq.nack('rq_err', :ide, 'bad input', '0');
SELECT deliveries, last_error FROM mq.read('rq_err');
SELECT mq.drop_queue('rq_err');
SELECT mq.drop_queue('rq');
SELECT mq.drop_queue('rq_plain');
