-- Metrics: mq.metrics(), the mq.metrics view, mq.prometheus() and
-- mq.reset_metrics().  Depth, ages and messages ever sent come from the
-- tables; the counters, rates and latencies from shared memory, counted
-- when the transaction that caused them commits.  Without mq preloaded
-- those are NULL and the histograms are left out (expected/metrics_1.out).
\i test/sql/setup.inc
SELECT mq.create_queue('mt_dlq');
SELECT mq.create_queue('mt', max_deliveries => 2, dead_letter_queue => 'mt_dlq');

-- An empty queue: zeros, no ages, nothing sent yet.
SELECT queue_length, visible, in_flight, delayed, newest_msg_age_sec, oldest_msg_age_sec,
       total_messages, sent, delivered, acked, consumers_waiting,
       queue_time_p50, queue_time_samples, counters_since <= clock_timestamp() AS since_ok,
       scrape_time >= now() AS scraped_now
  FROM mq.metrics('mt');

-- 5 sends and 1 delayed commit; a rolled-back send and a rolled-back
-- savepoint's send count nothing (the message ids they took do count in
-- total_messages: ids ever given).
SELECT count(*) FROM mq.send_batch('mt', array_fill('{"k": 1}'::jsonb, ARRAY[5]));
SELECT mq.send('mt', '{"later": true}', NULL, '1 hour') > 0 AS sent;
BEGIN;
SELECT mq.send('mt', '{"gone": 1}') > 0 AS sent;
ROLLBACK;
BEGIN;
SAVEPOINT s;
SELECT mq.send('mt', '{"gone": 2}') > 0 AS sent;
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT queue_length, visible, in_flight, delayed, total_messages, sent, delivered,
       oldest_msg_age_sec >= newest_msg_age_sec AS ages_ordered
  FROM mq.metrics('mt');

-- Read 4 (first deliveries: 4 queue-time samples), then ack one, archive
-- one, nack one (to be delivered again) and end one's lease with set_vt
-- (the next read counts it as an expired lease); an ack that rolls back
-- counts nothing.
SELECT array_agg(id ORDER BY id) AS ids FROM mq.read('mt', 4, '1 hour') \gset
SELECT mq.ack('mt', (:'ids'::bigint[])[1]);
SELECT mq.archive('mt', (:'ids'::bigint[])[2]);
SELECT mq.nack('mt', (:'ids'::bigint[])[3], 'try again');
BEGIN;
SELECT mq.ack('mt', (:'ids'::bigint[])[4]);
ROLLBACK;
SELECT mq.set_vt('mt', (:'ids'::bigint[])[4], '0') IS NOT NULL AS given_back;
SELECT queue_length, visible, in_flight, delayed, sent, delivered, acked, archived, nacked,
       expired_leases, queue_time_samples, processing_time_samples,
       queue_time_p50 >= 0 AND queue_time_p95 >= queue_time_p50
         AND queue_time_p99 >= queue_time_p95 AS queue_time_ordered,
       processing_time_p99 >= processing_time_p50 AS processing_ordered,
       sent_per_sec > 0 AS sending, delivered_per_sec > 0 AS delivering,
       acked_per_sec > 0 AS acking, failed_per_sec > 0 AS failing
  FROM mq.metrics('mt');

-- The nacked message and the one given back are delivered again (no new
-- queue-time samples: not first deliveries), the second time past
-- max_deliveries for one of them after its lease expires: a dead letter.
SELECT count(*) AS redelivered FROM mq.read('mt', 2, '1 ms');
SELECT pg_sleep(0.01) AS leases_over \gset
SELECT count(*) AS after_expiry FROM mq.read('mt', 10, '1 hour');
SELECT delivered, expired_leases, dead_lettered, queue_time_samples
  FROM mq.metrics('mt');
SELECT queue_length, sent, total_messages FROM mq.metrics('mt_dlq');

-- A redrive counts as redriven on the dead-letter queue and sent on the
-- target.
SELECT mq.redrive('mt_dlq', 'mt', 10) AS redriven;
SELECT (SELECT redriven FROM mq.metrics('mt_dlq')) AS dlq_redriven,
       (SELECT sent FROM mq.metrics('mt')) AS mt_sent;

-- pop: deliveries, with a queue-time sample for each first one.
SELECT count(*) AS popped FROM mq.pop('mt', 1);

-- The view: the same rows for every queue the caller may see.
SELECT queue_name, sent, delivered FROM mq.metrics ORDER BY queue_name;
SELECT (SELECT count(*) FROM mq.metrics) = (SELECT count(*) FROM mq.metrics()) AS view_is_function;

-- mq.prometheus(): families with HELP and TYPE, the queue as a label,
-- histograms with buckets, sum and count (a parser checks the whole text
-- in test/shell/metrics.sh).
SELECT line FROM regexp_split_to_table(mq.prometheus(), E'\n') AS line
 WHERE line ~ '^# TYPE mq_(sent_total|messages|queue_time_seconds) '
    OR line ~ '^mq_(sent_total|acked_total)\{queue="mt"\}'
    OR line ~ '^mq_messages\{queue="mt",state='
    OR line ~ '^mq_queue_time_seconds_(count|bucket)\{queue="mt"(,le="\+Inf")?\}'
 ORDER BY line;

-- reset_metrics: counters zero, counters_since moves; depth is the
-- tables' and stays.
SELECT coalesce(counters_since, '-infinity') AS before FROM mq.metrics('mt') \gset
SELECT mq.reset_metrics('mt');
SELECT sent, delivered, acked, queue_time_samples, counters_since > :'before' AS since_moved,
       queue_length
  FROM mq.metrics('mt');

-- Scaling advice.  The arithmetic: consumers to keep up = arrivals /
-- per-consumer rate, to drain = (arrivals + backlog / drain time) / rate,
-- rounded up; unknown without a per-consumer rate.
SELECT * FROM mq.consumers_needed(10, 2, 0, '1 minute');
SELECT * FROM mq.consumers_needed(10, 2, 600, '1 minute');
SELECT * FROM mq.consumers_needed(7, 2, 1, '10 seconds');
SELECT * FROM mq.consumers_needed(0, 4, 0, '1 minute');
SELECT * FROM mq.consumers_needed(0, 4, 1, '1 minute');
SELECT * FROM mq.consumers_needed(1, NULL, 5, '1 minute');
SELECT * FROM mq.consumers_needed(1, 0, 5, '1 minute');
SELECT * FROM mq.consumers_needed(1, 1, 5, '0 seconds');
-- On a queue processed at a known pace: each message is acked 0.2 s after
-- its delivery, so one consumer does about 5 a second; the advice is the
-- arithmetic above on the inputs it reports.
SELECT count(*) FROM mq.send_batch('mt', array_fill('{"job": 1}'::jsonb, ARRAY[20]));
DO $$
DECLARE
  m record;
BEGIN
  FOR i IN 1 .. 3 LOOP
    SELECT * INTO m FROM mq.read('mt', 1);
    PERFORM pg_sleep(0.2);
    PERFORM mq.ack('mt', m.id);
  END LOOP;
END $$;
SELECT a.queue_name, a.backlog,
       a.processing_time_avg BETWEEN 0.2 AND 1.0 AS about_200ms,
       a.per_consumer_per_sec BETWEEN 1 AND 5 AS about_5_per_sec,
       a.consumers_to_keep_up = n.to_keep_up AND a.consumers_to_drain = n.to_drain AS arithmetic,
       a.consumers_to_drain >= a.consumers_to_keep_up AS drain_needs_more,
       a.basis LIKE 'last minute: 3 messages processed%' AS basis
  FROM mq.scaling_advice('mt', '10 seconds') AS a,
       mq.consumers_needed(a.arrival_per_sec, a.per_consumer_per_sec, a.backlog, '10 seconds') AS n;

-- Errors: an unknown queue (42704), a bad name (42602 as everywhere).
SELECT pg_temp.err($$SELECT * FROM mq.metrics('mt_none')$$);
SELECT pg_temp.err($$SELECT mq.reset_metrics('mt_none')$$);
SELECT pg_temp.err($$SELECT * FROM mq.metrics('Bad Name')$$);

-- Privileges: a role holding no privilege on a queue does not see it in
-- the view or in mq.prometheus(), and naming it is 42501; consume shows
-- it; reset_metrics takes manage (42501 for a consumer, nothing reset);
-- pg_monitor sees every queue.
CREATE ROLE mq_mt_none;
CREATE ROLE mq_mt_consumer;
CREATE ROLE mq_mt_monitor IN ROLE pg_monitor;
SELECT mq.grant('mt', 'consume', 'mq_mt_consumer');
SELECT mq.send('mt', '{"after": "reset"}') > 0 AS sent;
SET ROLE mq_mt_none;
SELECT count(*) AS seen FROM mq.metrics;
SELECT position('queue="mt"' IN mq.prometheus()) AS in_text;
SELECT pg_temp.err($$SELECT * FROM mq.metrics('mt')$$);
SELECT pg_temp.err($$SELECT * FROM mq.scaling_advice('mt')$$);
RESET ROLE;
SET ROLE mq_mt_consumer;
SELECT queue_name, sent FROM mq.metrics;
SELECT pg_temp.err($$SELECT mq.reset_metrics('mt')$$);
RESET ROLE;
SELECT sent AS still_counted FROM mq.metrics('mt');
SET ROLE mq_mt_monitor;
SELECT queue_name FROM mq.metrics ORDER BY 1;
RESET ROLE;


-- Alerts.  Rules on the metrics above, evaluated here by
-- mq.evaluate_alerts() (the worker does the same every mq.worker_naptime;
-- test/shell/metrics.sh sees it fire on its own and the NOTIFY; here the
-- worker may evaluate between our calls too, which changes who records an
-- event, not the events).  A rule fires once when its condition holds for
-- its for_duration, stays firing without repeating, and resolves once.
SELECT mq.create_queue('al');
SELECT mq.create_alert('al_deep', 'al', 'depth', 2);
SELECT mq.create_alert('al_idle', 'al', 'no_consumers', 0);
SELECT mq.create_alert('al_slow', 'al', 'depth', 1, '1 hour', '>=');
SELECT mq.create_alert('al_quiet', 'al', 'queue_length', 1, '0', '<');
SELECT mq.evaluate_alerts() >= 0 AS evaluated;
SELECT alert_name, state, last_value FROM mq.alerts WHERE queue_name = 'al' ORDER BY 1;
SELECT count(*) FROM mq.send_batch('al', array_fill('{}'::jsonb, ARRAY[3]));
SELECT mq.evaluate_alerts() >= 0 AS evaluated;
SELECT mq.evaluate_alerts() AS events_again;
SELECT alert_name, state, last_value, fired_at IS NOT NULL AS fired,
       pending_since IS NOT NULL AS pending
  FROM mq.alerts WHERE queue_name = 'al' ORDER BY 1;
SELECT count(mq.ack('al', id)) AS acked FROM mq.read('al', 2);
SELECT mq.evaluate_alerts() >= 0 AS evaluated;
SELECT alert_name, event, metric, operator, threshold, value
  FROM mq.alert_history WHERE queue_name = 'al' ORDER BY id;
SELECT alert_name, state FROM mq.alerts WHERE queue_name = 'al' ORDER BY 1;

-- Refusals: each leaves no rule behind.
SELECT pg_temp.err($$SELECT mq.create_alert('al_x', 'al', 'colour', 1)$$);
SELECT pg_temp.err($$SELECT mq.create_alert('al_x', 'al', 'depth', 1, '0', '==')$$);
SELECT pg_temp.err($$SELECT mq.create_alert('al_x', 'al', 'depth', 1, '-1 second')$$);
SELECT pg_temp.err($$SELECT mq.create_alert('al_x', 'al', 'depth', 'NaN')$$);
SELECT pg_temp.err($$SELECT mq.create_alert('al_x', 'al', 'depth', NULL)$$);
SELECT pg_temp.err($$SELECT mq.create_alert('al_deep', 'al', 'depth', 5)$$);
SELECT pg_temp.err($$SELECT mq.create_alert('al_x', 'al_none', 'depth', 5)$$);
SELECT pg_temp.err($$SELECT mq.create_alert('Al X', 'al', 'depth', 5)$$);
SELECT pg_temp.err($$SELECT mq.drop_alert('al_none')$$);
SELECT count(*) AS rules FROM mq.alerts WHERE queue_name = 'al';

-- Privileges: creating and dropping a rule takes manage on its queue; a
-- consumer sees the queue's rules and their history, a role with nothing
-- sees none; evaluating by hand is not for PUBLIC.
SELECT mq.grant('al', 'consume', 'mq_mt_consumer');
SET ROLE mq_mt_consumer;
SELECT pg_temp.err($$SELECT mq.create_alert('al_c', 'al', 'depth', 1)$$);
SELECT pg_temp.err($$SELECT mq.drop_alert('al_deep')$$);
SELECT count(*) AS rules_seen FROM mq.alerts WHERE queue_name = 'al';
SELECT count(*) AS events_seen FROM mq.alert_history WHERE queue_name = 'al';
SELECT pg_temp.err($$SELECT mq.evaluate_alerts()$$);
RESET ROLE;
SET ROLE mq_mt_none;
SELECT count(*) AS rules_seen FROM mq.alerts;
SELECT count(*) AS events_seen FROM mq.alert_history;
SELECT pg_temp.err($$SELECT * FROM mq.alert$$);
RESET ROLE;
SELECT mq.drop_alert('al_quiet');
SELECT alert_name FROM mq.alerts WHERE queue_name = 'al' ORDER BY 1;

-- Dropping the queue drops its rules; the history stays.
SELECT mq.drop_queue('al');
SELECT count(*) AS rules_left FROM mq.alert WHERE queue_name = 'al';
SELECT count(*) AS history_kept FROM mq.alert_log WHERE queue_name = 'al';

SELECT mq.drop_queue('mt');
SELECT mq.drop_queue('mt_dlq');
DROP ROLE mq_mt_none, mq_mt_consumer, mq_mt_monitor;
