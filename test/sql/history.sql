-- Lifecycle tracing: history => true records every event of a message in
-- mq.h_<name>, in the transaction that caused it; mq.trace returns them in
-- order, across dead-letter and redrive links.  (Rolled-back deliveries,
-- the worker's lease sweep and the retention purge need the worker:
-- test/shell/history.sh.)
\i test/sql/setup.inc
SET application_name = 'history_test';
SELECT mq.create_queue('ht_dlq', history => true);
SELECT mq.create_queue('ht', max_deliveries => 2, dead_letter_queue => 'ht_dlq',
                       history => true, history_retention => '2 days');
SELECT mq.create_queue('ht_off');
SELECT queue_name, history, history_retention FROM mq.queue WHERE queue_name LIKE 'ht%' ORDER BY 1;
SELECT c.relname, c.relkind, pg_get_userbyid(c.relowner) = (SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'mq') AS mq_owns
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'mq' AND c.relname LIKE 'h\_ht%' ORDER BY 1;

-- Bad options: 22023, and nothing changed.
SELECT pg_temp.err($$SELECT mq.create_queue('ht_bad', history => true, history_retention => '0')$$);
SELECT pg_temp.err($$SELECT mq.create_queue('ht_bad', history => true, history_retention => '-1 day')$$);
SELECT pg_temp.err($$SELECT mq.alter_queue('ht', history_retention => '0')$$);
SELECT count(*) FROM mq.queue WHERE queue_name = 'ht_bad';
SELECT history_retention FROM mq.queue WHERE queue_name = 'ht';

-- A view of a trace without times and pids, which differ from run to run.
CREATE FUNCTION pg_temp.tr(q text, m bigint) RETURNS TABLE (queue text, rel_id bigint, event text,
    delivery integer, role_ok boolean, application_name text, pid_ok boolean, has_visible_at boolean,
    error text, traceparent text, other_queue text, has_other_id boolean)
LANGUAGE sql AS $$
  SELECT t.queue, t.message_id - (SELECT min(message_id) FROM mq.trace(q, m)), t.event, t.delivery,
         t.role = current_user, t.application_name, t.backend_pid = pg_backend_pid(),
         t.visible_at IS NOT NULL, t.error, t.traceparent, t.other_queue, t.other_id IS NOT NULL
    FROM mq.trace(q, m) t
$$;

-- Sent, delivered, nacked, delivered again, nacked: the second failure
-- is the last allowed delivery, so the message goes to the dead-letter
-- queue, where it is "received", linked back.
SELECT mq.send('ht', '{"n": 1}', '{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}') AS m1 \gset
SELECT id = :m1 AS got FROM mq.read('ht');
SELECT mq.nack('ht', :m1, 'boom 1', '0');
SELECT id = :m1 AS got FROM mq.read('ht');
SELECT mq.nack('ht', :m1, 'boom 2');
SELECT * FROM pg_temp.tr('ht', :m1);
-- The events are in time order.
SELECT bool_and(event_at >= prev) AS ordered
  FROM (SELECT event_at, lag(event_at, 1, '-infinity') OVER (ORDER BY n) AS prev
          FROM mq.trace('ht', :m1) WITH ORDINALITY AS t(queue, message_id, event_at, event, delivery, role,
               application_name, backend_pid, visible_at, error, traceparent, other_queue, other_id, n)) s;
-- The dead letter's trace starts at its origin: the same timeline.
SELECT other_id AS d1 FROM mq.trace('ht', :m1) WHERE event = 'dead_lettered' \gset
SELECT (SELECT count(*) FROM mq.trace('ht_dlq', :d1)) = (SELECT count(*) FROM mq.trace('ht', :m1)) AS same;

-- Redrive brings it back as a new message: "redriven" in the dead-letter
-- queue, "received" in the target; the trace of the new one goes back to
-- the first send.
SELECT mq.redrive('ht_dlq');
SELECT id AS m2 FROM mq.read('ht') \gset
SELECT mq.ack('ht', :m2);
SELECT * FROM pg_temp.tr('ht', :m2);

-- Acked, archived (one and many), popped, lease extended.
SELECT array_agg(b ORDER BY b) AS ids FROM mq.send_batch('ht', array_fill('{"b": 1}'::jsonb, ARRAY[6])) b \gset
SELECT count(*) FROM mq.read('ht', 6);
SELECT mq.set_vt('ht', (:'ids'::bigint[])[1], '1 minute') IS NOT NULL AS extended;
SELECT mq.ack('ht', (:'ids'::bigint[])[1]);
SELECT mq.ack('ht', (:'ids'::bigint[])[2:3]);
SELECT mq.archive('ht', (:'ids'::bigint[])[4]);
SELECT mq.archive('ht', (:'ids'::bigint[])[5:6]);
SELECT m.id - (:'ids'::bigint[])[1] AS n, string_agg(t.event, ', ' ORDER BY t.event_at, t.event) AS events
  FROM unnest(:'ids'::bigint[]) m(id), mq.trace('ht', m.id) t GROUP BY 1 ORDER BY 1;
SELECT mq.send('ht', '{"p": 1}') AS m3 \gset
SELECT count(*) FROM mq.pop('ht');
SELECT string_agg(event || '/' || coalesce(delivery::text, '-'), ', ' ORDER BY event_at) FROM mq.trace('ht', :m3);

-- A lease that expired, found by the next read: "lease_expired", then
-- "delivered" with the next delivery number.
SELECT mq.send('ht', '{"e": 1}') AS m4 \gset
SELECT count(*) FROM mq.read('ht', 1, vt => '1 millisecond');
SELECT pg_sleep(0.01);
SELECT count(*) FROM mq.read('ht', 1);
SELECT * FROM pg_temp.tr('ht', :m4);
SELECT mq.ack('ht', :m4);

-- Events are written in the transaction that caused them: a rolled-back
-- send, read or ack leaves none; a delayed send says when it is due.
BEGIN;
SELECT mq.send('ht', '{"r": 1}') AS m5 \gset
ROLLBACK;
SELECT count(*) FROM mq.h_ht WHERE msg_id = :m5;
SELECT mq.send('ht', '{"r": 2}') AS m6 \gset
BEGIN;
SELECT count(*) FROM mq.read('ht');
SELECT mq.ack('ht', :m6);
ROLLBACK;
SELECT event FROM mq.trace('ht', :m6);
SELECT mq.send('ht', '{"later": 1}', NULL, '1 hour') AS m7 \gset
SELECT event, visible_at > now() + '59 minutes' AS due_later FROM mq.trace('ht', :m7);
SELECT mq.purge('ht') >= 2 AS purged;

-- History off: nothing more is written, what was written stays readable.
SELECT mq.alter_queue('ht', history => false);
SELECT mq.send('ht', '{"off": 1}') AS m8 \gset
SELECT count(*) FROM mq.h_ht WHERE msg_id = :m8;
SELECT count(*) > 0 AS still_traced FROM mq.trace('ht', :m1);
SELECT mq.alter_queue('ht', history => true);
SELECT count(*) FROM mq.read('ht');
SELECT event FROM mq.trace('ht', :m8);
SELECT mq.purge('ht');

-- A queue that never kept history: 55000.  A NULL id: no rows (strict).
SELECT pg_temp.err($$SELECT * FROM mq.trace('ht_off', 1)$$);
SELECT pg_temp.err($$SELECT * FROM mq.trace('ht_none', 1)$$);
SELECT count(*) FROM mq.trace('ht', NULL);
-- History turned on later makes the table; its sends are recorded.
SELECT mq.alter_queue('ht_off', history => true);
SELECT mq.send('ht_off', '{}') AS m10 \gset
SELECT event FROM mq.trace('ht_off', :m10);

-- A partitioned queue: one history table for all partitions.
SELECT mq.create_queue('ht_parts', partitions => 3, history => true);
SELECT count(*) FROM mq.send_batch('ht_parts', array_fill('{}'::jsonb, ARRAY[3]));
SELECT count(*) FROM mq.send('ht_parts', '{}') UNION ALL SELECT count(*) FROM mq.send('ht_parts', '{}');
SELECT count(*) FROM (SELECT mq.ack('ht_parts', id) FROM mq.read('ht_parts', 5)) a;
SELECT event, count(*), count(DISTINCT msg_id >> 48) AS partitions FROM mq.h_ht_parts GROUP BY 1 ORDER BY 1;

-- Privileges: tracing needs consume or manage on the queue (or
-- pg_monitor); turning history on or off needs manage.
CREATE ROLE ht_sender;
CREATE ROLE ht_consumer;
CREATE ROLE ht_monitor IN ROLE pg_monitor;
SELECT mq.grant('ht', 'send', 'ht_sender');
SELECT mq.grant('ht', 'consume', 'ht_consumer');
SET ROLE ht_sender;
SELECT pg_temp.err(format('SELECT * FROM mq.trace(%L, %s)', 'ht', :m1));
SELECT pg_temp.err($$SELECT mq.alter_queue('ht', history => false)$$);
SELECT mq.send('ht', '{"by": "sender"}') AS m9 \gset
RESET ROLE;
SET ROLE ht_consumer;
SELECT count(*) > 0 AS traced FROM mq.trace('ht', :m1);
SELECT pg_temp.err($$SELECT mq.alter_queue('ht', history => false)$$);
-- The dead-letter queue is not the consumer's: the trace stops at the link.
SELECT string_agg(DISTINCT queue, ', ') FROM mq.trace('ht', :m1);
SELECT id = :m9 AS got FROM mq.read('ht');
RESET ROLE;
SET ROLE ht_monitor;
SELECT count(*) > 0 AS traced FROM mq.trace('ht_dlq', :d1);
RESET ROLE;
SELECT event, role FROM mq.trace('ht', :m9);
SELECT history FROM mq.queue WHERE queue_name = 'ht';

-- The history table is held to what mq made, like the others: a trigger
-- on it makes the queue refuse service.
CREATE FUNCTION pg_temp.planted() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER planted BEFORE INSERT ON mq.h_ht_off FOR EACH ROW EXECUTE FUNCTION pg_temp.planted();
SELECT pg_temp.err($$SELECT mq.send('ht_off', '{}')$$);
DROP TRIGGER planted ON mq.h_ht_off;
SELECT mq.send('ht_off', '{}') > 0 AS sent;

-- Dropping a queue drops its history.
SELECT mq.drop_queue('ht_off');
SELECT mq.drop_queue('ht_parts');
SELECT count(*) FROM pg_class WHERE relname IN ('h_ht_off', 'h_ht_parts');
SELECT mq.drop_queue('ht');
SELECT mq.drop_queue('ht_dlq');
DROP ROLE ht_sender;
DROP ROLE ht_consumer;
DROP ROLE ht_monitor;
