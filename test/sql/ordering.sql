-- Ordering and selective consumption: message priority (send, send_batch,
-- send_multi; read, pop and peek deliver the highest priority first, by id
-- within a priority) and filtered reads (filter on the headers,
-- payload_filter on the payload) that leave other messages untouched.
\i test/sql/setup.inc

-- settled(queue, n): true once the worker has recorded n rolled-back
-- deliveries of the queue (rollback.c); at once where mq is not preloaded
-- (nothing outlives a rollback there).  Waits up to 30 s.
CREATE FUNCTION pg_temp.settled(q text, n bigint) RETURNS boolean LANGUAGE plpgsql AS $f$
DECLARE
  r bigint;
BEGIN
  FOR i IN 1..3000 LOOP
    SELECT rollbacks INTO r FROM mq.queues WHERE queue_name = q;
    IF r IS NULL OR r >= n THEN
      RETURN true;
    END IF;
    PERFORM pg_sleep(0.01);
  END LOOP;
  RETURN false;
END $f$;

SELECT mq.create_queue('pr', visibility_timeout => '1 hour');

-- 1. Priority.  Messages of 0, 5, 9, 0, 5, 3: read one at a time, they
-- come 9, 5 (older), 5, 3, 0 (older), 0.
SELECT mq.send('pr', '{"n": 1}') AS p1 \gset
SELECT mq.send('pr', '{"n": 2}', priority => 5) AS p2 \gset
SELECT mq.send('pr', '{"n": 3}', priority => 9) AS p3 \gset
SELECT mq.send('pr', '{"n": 4}', priority => 0) AS p4 \gset
SELECT mq.send('pr', '{"n": 5}', priority => 5) AS p5 \gset
SELECT mq.send('pr', '{"n": 6}', priority => 3) AS p6 \gset
-- peek shows the order reads will deliver in, with each priority
SELECT payload->>'n' AS n, priority, state FROM mq.peek('pr');
SELECT payload->>'n' AS n, priority FROM mq.read('pr');
SELECT payload->>'n' AS n, priority FROM mq.read('pr');
-- a higher priority arriving while lower ones wait is delivered next
SELECT mq.send('pr', '{"n": 7}', priority => 8) AS p7 \gset
SELECT payload->>'n' AS n, priority FROM mq.read('pr');
-- a read of several returns them in delivery order
SELECT payload->>'n' AS n, priority FROM mq.read('pr', 10);
SELECT count(*) AS left_visible FROM mq.peek('pr', 10, 'visible');

-- A nack puts a message back at its priority: it overtakes priority 0.
SELECT mq.purge('pr');
SELECT mq.send('pr', '{"n": "low"}') AS low \gset
SELECT mq.send('pr', '{"n": "high"}', priority => 7) AS high \gset
SELECT id = :high AS got_high FROM mq.read('pr');
SELECT mq.nack('pr', :high, 'try again', '0');
SELECT payload->>'n' AS n, priority, deliveries FROM mq.read('pr');
-- an expired lease too
SELECT mq.purge('pr');
SELECT mq.send('pr', '{"n": "low"}') AS low \gset
SELECT mq.send('pr', '{"n": "high"}', priority => 7) AS high \gset
SELECT id = :high AS got_high FROM mq.read('pr', 1, '1 millisecond');
SELECT pg_sleep(0.01);
SELECT payload->>'n' AS n, priority, deliveries, last_error FROM mq.read('pr');
-- a read that rolls back leaves the order as it was
SELECT mq.purge('pr');
SELECT mq.send('pr', '{"n": "low"}') AS low \gset
SELECT mq.send('pr', '{"n": "high"}', priority => 2) AS high \gset
BEGIN;
SELECT payload->>'n' AS n FROM mq.read('pr');
ROLLBACK;
SELECT pg_temp.settled('pr', 1);
SELECT payload->>'n' AS n, priority FROM mq.read('pr', 2);
-- ... and a send that rolls back leaves nothing
SELECT mq.purge('pr');
BEGIN;
SELECT mq.send('pr', '{"n": "gone"}', priority => 9) IS NOT NULL AS sent;
ROLLBACK;
SELECT count(*) AS nothing FROM mq.read('pr', 10);

-- send_batch: one priority for all, or one per payload; in a batch of
-- mixed priorities the highest come first, each level in batch order.
SELECT mq.purge('pr');
SELECT count(*) FROM mq.send_batch('pr', ARRAY['{"b": 1}', '{"b": 2}']::jsonb[], priority => 4);
SELECT count(*) FROM mq.send_batch('pr', ARRAY['{"b": 3}', '{"b": 4}', '{"b": 5}', '{"b": 6}']::jsonb[],
                                   priorities => ARRAY[1, 6, 1, 9]);
SELECT payload->>'b' AS b, priority FROM mq.read('pr', 10);
-- send_multi gives every queue's copy the priority
SELECT mq.create_queue('pr2');
SELECT mq.send('pr2', '{"m": "plain"}') AS m0 \gset
SELECT count(*) FROM mq.send_multi(ARRAY['pr', 'pr2'], '{"m": "multi"}', priority => 6);
SELECT payload->>'m' AS m, priority FROM mq.read('pr2', 10);
SELECT payload->>'m' AS m, priority FROM mq.read('pr', 10);
-- dedup with a priority
SELECT mq.send('pr', '{"d": 1}', dedup_key => 'k1', priority => 3) AS d1 \gset
SELECT mq.send('pr', '{"d": 2}', dedup_key => 'k1', priority => 9) = :d1 AS deduplicated;
SELECT payload, priority FROM mq.read('pr', 10);

-- pop takes by priority too
SELECT mq.purge('pr');
SELECT mq.send('pr', '{"n": "a"}');
SELECT mq.send('pr', '{"n": "b"}', priority => 1);
SELECT mq.send('pr', '{"n": "c"}');
SELECT payload->>'n' AS n, priority FROM mq.pop('pr', 2);
SELECT payload->>'n' AS n, priority FROM mq.pop('pr', 2);

-- A dead letter keeps its priority, and so does a redrive.
SELECT mq.create_queue('pr_dlq');
SELECT mq.create_queue('pr_dl', max_deliveries => 1, dead_letter_queue => 'pr_dlq');
SELECT mq.send('pr_dl', '{"x": 1}', priority => 7) AS x1 \gset
SELECT id = :x1 AS got FROM mq.read('pr_dl');
SELECT mq.nack('pr_dl', :x1, 'failed');
SELECT payload, priority, headers->'mq_dead_letter'->>'queue' AS origin FROM mq.peek('pr_dlq');
SELECT mq.redrive('pr_dlq');
SELECT payload, priority FROM mq.peek('pr_dl');

-- Refusals: out of range (22023), both priority and priorities (22023),
-- priorities not matching the payloads (22023), a null priority in the
-- array (22004), a two-dimensional array (2202E).  Nothing was sent.
SELECT mq.purge('pr');
SELECT pg_temp.err($$SELECT mq.send('pr', '{}', priority => 10)$$);
SELECT pg_temp.err($$SELECT mq.send('pr', '{}', priority => -1)$$);
SELECT pg_temp.err($$SELECT mq.send_batch('pr', ARRAY['{}']::jsonb[], priority => 12)$$);
SELECT pg_temp.err($$SELECT mq.send_batch('pr', ARRAY['{}']::jsonb[], priority => 1, priorities => ARRAY[2])$$);
SELECT pg_temp.err($$SELECT mq.send_batch('pr', ARRAY['{}', '{}']::jsonb[], priorities => ARRAY[2])$$);
SELECT pg_temp.err($$SELECT mq.send_batch('pr', ARRAY['{}', '{}']::jsonb[], priorities => ARRAY[2, NULL])$$);
SELECT pg_temp.err($$SELECT mq.send_batch('pr', ARRAY['{}', '{}']::jsonb[], priorities => ARRAY[2, 10])$$);
SELECT pg_temp.err($$SELECT mq.send_batch('pr', ARRAY['{}']::jsonb[], priorities => ARRAY[[1]])$$);
SELECT pg_temp.err($$SELECT mq.send_multi(ARRAY['pr', 'pr2'], '{}', priority => 10)$$);
SELECT count(*) AS nothing_sent FROM mq.peek('pr');
-- a null priority is priority 0
SELECT mq.send('pr', '{"z": 1}', priority => NULL) IS NOT NULL AS sent;
SELECT priority FROM mq.read('pr');

-- The index the priorities use, and the read position: after a read of
-- the highest level passed older messages of priority 0, those are still
-- read (the position stopped at the first of them).
SELECT mq.purge('pr');
SELECT count(*) FROM mq.send_batch('pr', array_fill('{"lvl": 0}'::jsonb, ARRAY[50]));
SELECT count(*) FROM mq.send_batch('pr', array_fill('{"lvl": 9}'::jsonb, ARRAY[50]), priority => 9);
SELECT count(*) FROM mq.send_batch('pr', array_fill('{"lvl": 0}'::jsonb, ARRAY[50]));
SELECT payload->>'lvl' AS lvl, count(*) FROM mq.read('pr', 30) GROUP BY 1;
SELECT payload->>'lvl' AS lvl, count(*) FROM mq.read('pr', 30) GROUP BY 1 ORDER BY 1;
SELECT payload->>'lvl' AS lvl, count(*) FROM mq.read('pr', 100) GROUP BY 1;
SELECT count(*) AS left_over FROM mq.read('pr', 100);
SELECT indexdef FROM pg_indexes WHERE schemaname = 'mq' AND tablename = 'q_pr' ORDER BY indexname;

-- A read knows a level empty once its position passed the highest id sent
-- at it, and passes it by; a message sent to it later, a read that rolls
-- back, a nack and an expired lease make it hold something again, and
-- each is delivered before priority 0.
SELECT mq.purge('pr');
SELECT count(*) FROM mq.send_batch('pr', '{"{\"e\": 1}","{\"e\": 2}","{\"e\": 3}","{\"e\": 4}"}'::jsonb[],
                                   priorities => '{5,0,5,0}');
SELECT payload->>'e' AS e, priority FROM mq.read('pr', 1);
SELECT payload->>'e' AS e, priority FROM mq.read('pr', 1);
SELECT mq.send('pr', '{"e": 5}', priority => 5) IS NOT NULL AS sent;
SELECT mq.send('pr', '{"e": 6}', priority => 8) IS NOT NULL AS sent;
SELECT payload->>'e' AS e, priority FROM mq.read('pr', 1);
BEGIN;
SELECT payload->>'e' AS e, priority FROM mq.read('pr', 1);
ROLLBACK;
SELECT pg_temp.settled('pr', 2);
SELECT payload->>'e' AS e, priority FROM mq.read('pr', 1);
SELECT mq.nack('pr', (SELECT id FROM mq.peek('pr') WHERE payload->>'e' = '5'));
SELECT payload->>'e' AS e, priority FROM mq.read('pr', 1, '1 ms');
SELECT pg_sleep(0.01);
SELECT payload->>'e' AS e, priority FROM mq.read('pr', 1);
SELECT payload->>'e' AS e, priority FROM mq.read('pr', 3);

-- 2. Filters.  Headers {"type": ...}, payloads {"k": ...}.
SELECT mq.create_queue('fl', visibility_timeout => '1 hour');
SELECT mq.send('fl', '{"k": 1}', '{"type": "a"}') AS f1 \gset
SELECT mq.send('fl', '{"k": 2}', '{"type": "b"}') AS f2 \gset
SELECT mq.send('fl', '{"k": 3}', '{"type": "a", "tenant": 7}') AS f3 \gset
SELECT mq.send('fl', '{"k": 4, "tags": ["x", "y"]}') AS f4 \gset
SELECT mq.send('fl', '{"k": 5}', '{"type": "b"}', priority => 4) AS f5 \gset
-- only matching messages, in delivery order (priority, then id)
SELECT payload->>'k' AS k FROM mq.read('fl', 10, filter => '{"type": "b"}');
-- the others were not touched: no lease, no delivery counted
SELECT payload->>'k' AS k, state, deliveries FROM mq.peek('fl') ORDER BY id;
-- containment: nested keys, arrays; both filters together
SELECT payload->>'k' AS k FROM mq.read('fl', 10, filter => '{"tenant": 7}');
SELECT payload->>'k' AS k FROM mq.read('fl', 10, payload_filter => '{"tags": ["y"]}');
SELECT payload->>'k' AS k FROM mq.read('fl', 10, filter => '{"type": "a"}', payload_filter => '{"k": 9}');
SELECT payload->>'k' AS k FROM mq.read('fl', 10, filter => '{"type": "a"}', payload_filter => '{"k": 1}');
-- a filter nothing matches: nothing, and nothing changed
SELECT count(*) AS none FROM mq.read('fl', 10, filter => '{"type": "zzz"}');
-- an unfiltered read still gets what is left, in order
SELECT mq.send('fl', '{"k": 6}', '{"type": "c"}') AS f6 \gset
SELECT payload->>'k' AS k FROM mq.read('fl', 10);
-- A filtered read never moves the read position past a message it
-- skipped: after filtered reads took the newest messages, an unfiltered
-- read still finds the older ones.
SELECT mq.purge('fl');
SELECT count(*) FROM mq.send_batch('fl', array_fill('{"v": "old"}'::jsonb, ARRAY[20]), '{"type": "old"}');
SELECT count(*) FROM mq.send_batch('fl', array_fill('{"v": "new"}'::jsonb, ARRAY[20]), '{"type": "new"}');
SELECT count(*) AS filtered FROM mq.read('fl', 15, filter => '{"type": "new"}');
SELECT count(*) AS filtered FROM mq.read('fl', 15, filter => '{"type": "new"}');
SELECT payload->>'v' AS v, count(*) FROM mq.read('fl', 100) GROUP BY 1;
-- a filtered read that rolls back leaves its messages as they were
SELECT mq.purge('fl');
SELECT mq.send('fl', '{"k": 1}', '{"type": "a"}') AS f1 \gset
BEGIN;
SELECT id = :f1 AS got FROM mq.read('fl', 1, filter => '{"type": "a"}');
ROLLBACK;
SELECT pg_temp.settled('fl', 1);
SELECT id = :f1 AS got_again FROM mq.read('fl', 1, filter => '{"type": "a"}');
-- Filtered reads keep a position of their own (per session, queue and
-- filter): one at a time they take every match in order; a rolled-back
-- filtered read, and a matching message delayed past them and made due
-- later, are still found.
SELECT mq.purge('fl');
SELECT count(*) FROM (SELECT mq.send('fl', jsonb_build_object('i', i),
                                     jsonb_build_object('type', CASE WHEN i % 3 = 0 THEN 'a' ELSE 'b' END))
                        FROM generate_series(1, 30) i) s;
SELECT mq.send('fl', '{"i": "late"}', '{"type": "a"}', delay => '1 hour') AS late \gset
SELECT count(*) FROM (SELECT mq.send('fl', jsonb_build_object('i', i), '{"type": "a"}')
                        FROM generate_series(31, 33) i) s;
CREATE TEMP TABLE taken (i text, n serial);
SELECT mq.ack('fl', id) FROM mq.read('fl', 1, filter => '{"type": "a"}') \g /dev/null
INSERT INTO taken (i) SELECT payload->>'i' FROM mq.read('fl', 1, filter => '{"type": "a"}');
INSERT INTO taken (i) SELECT payload->>'i' FROM mq.read('fl', 1, filter => '{"type": "a"}');
BEGIN;
SELECT payload->>'i' AS rolled_back FROM mq.read('fl', 1, filter => '{"type": "a"}');
ROLLBACK;
SELECT pg_temp.settled('fl', 2);
INSERT INTO taken (i) SELECT payload->>'i' FROM mq.read('fl', 1, filter => '{"type": "a"}');
INSERT INTO taken (i) SELECT payload->>'i' FROM mq.read('fl', 100, filter => '{"type": "a"}');
SELECT string_agg(i, ' ' ORDER BY n) AS taken_in_order FROM taken;
SELECT mq.set_vt('fl', :late, '0') IS NOT NULL AS made_due;
SELECT payload->>'i' AS due_now FROM mq.read('fl', 100, filter => '{"type": "a"}');
SELECT count(*) AS type_b_left_untouched FROM mq.peek('fl', 100) WHERE headers->>'type' = 'b' AND state = 'visible' AND deliveries = 0;

-- a filter that is not an object still means containment
SELECT mq.send('fl', '[1, 2, 3]') AS arr \gset
SELECT id = :arr AS got_array FROM mq.read('fl', 1, payload_filter => '[2]');

-- 2b. FIFO groups.  Messages of a group are delivered one at a time, in
-- send order; messages without a group are not held back by them.
SELECT mq.create_queue('gr', visibility_timeout => '1 hour');
SELECT mq.send('gr', '{"n": "a1"}', group_id => 'a') AS a1 \gset
SELECT mq.send('gr', '{"n": "a2"}', group_id => 'a') AS a2 \gset
SELECT mq.send('gr', '{"n": "b1"}', group_id => 'b') AS b1 \gset
SELECT mq.send('gr', '{"n": "x"}') AS x \gset
SELECT mq.send('gr', '{"n": "a3"}', group_id => 'a', priority => 9) AS a3 \gset
SELECT mq.send('gr', '{"n": "b2"}', group_id => 'b') AS b2 \gset
-- peek: the heads and the ungrouped message are visible, the rest blocked
SELECT payload->>'n' AS n, state, group_id, priority FROM mq.peek('gr');
SELECT payload->>'n' AS n FROM mq.peek('gr', 10, 'blocked');
SELECT payload->>'n' AS n FROM mq.peek('gr', 10, 'visible');
-- a read of 10 takes each group's head only (priority 9 does not let a3
-- overtake a1 and a2)
SELECT payload->>'n' AS n, group_id FROM mq.read('gr', 10);
SELECT count(*) AS nothing_more FROM mq.read('gr', 10);
-- acking a head lets the next of its group go
SELECT mq.ack('gr', :a1);
SELECT payload->>'n' AS n FROM mq.read('gr', 10);
-- a nack with a delay keeps the group blocked until the message is
-- delivered again; a nack to now gives it back first
SELECT mq.nack('gr', :a2, 'later', '1 hour');
SELECT count(*) AS blocked_behind_nack FROM mq.read('gr', 10);
SELECT payload->>'n' AS n, state FROM mq.peek('gr') WHERE group_id = 'a';
SELECT mq.set_vt('gr', :a2, '0') IS NOT NULL AS due_now;
SELECT payload->>'n' AS n, deliveries FROM mq.read('gr', 10);
-- archiving the head lets the group go on
SELECT mq.archive('gr', :a2);
SELECT payload->>'n' AS n FROM mq.read('gr', 10);
-- a read that rolls back keeps the group's order
SELECT mq.ack('gr', :a3);
SELECT mq.ack('gr', :b1);
SELECT mq.ack('gr', :x);
SELECT mq.send('gr', '{"n": "c1"}', group_id => 'c') AS c1 \gset
SELECT mq.send('gr', '{"n": "c2"}', group_id => 'c') AS c2 \gset
BEGIN;
SELECT payload->>'n' AS n FROM mq.read('gr', 10) WHERE group_id = 'c';
ROLLBACK;
SELECT pg_temp.settled('gr', 1);
SELECT payload->>'n' AS n FROM mq.read('gr', 10) WHERE group_id = 'c';
-- an expired lease redelivers the head, not the next
SELECT mq.ack('gr', :c1);
SELECT payload->>'n' AS n FROM mq.read('gr', 10, '1 millisecond');
SELECT pg_sleep(0.01);
SELECT payload->>'n' AS n, deliveries FROM mq.read('gr', 10);
SELECT mq.purge('gr');

-- send_batch: one group for all (in batch order), or one per payload
SELECT count(*) FROM mq.send_batch('gr', ARRAY['{"n": 1}', '{"n": 2}', '{"n": 3}']::jsonb[], group_id => 'k');
SELECT count(*) FROM mq.send_batch('gr', ARRAY['{"n": 4}', '{"n": 5}', '{"n": 6}', '{"n": 7}']::jsonb[],
                                   group_ids => ARRAY['k', NULL, 'm', 'k']);
SELECT payload->>'n' AS n, state, group_id FROM mq.peek('gr');
SELECT payload->>'n' AS n, group_id FROM mq.read('gr', 10);
SELECT mq.purge('gr');
-- send_multi: each queue's copy in the group
SELECT count(*) FROM mq.send_multi(ARRAY['gr', 'pr2'], '{"n": "multi"}', group_id => 'mg');
SELECT group_id FROM mq.peek('gr');
SELECT group_id FROM mq.read('pr2', 10);
-- pop takes heads only
SELECT mq.send('gr', '{"n": "mg2"}', group_id => 'mg');
SELECT payload->>'n' AS n, group_id FROM mq.pop('gr', 10);
SELECT payload->>'n' AS n, group_id FROM mq.pop('gr', 10);
-- a message that keeps failing blocks its group until it is
-- dead-lettered; then the group goes on (and the dead letter keeps its
-- group, as does a redrive)
SELECT mq.create_queue('gr_dlq');
SELECT mq.create_queue('gr_dl', max_deliveries => 2, dead_letter_queue => 'gr_dlq');
SELECT mq.send('gr_dl', '{"n": "poison"}', group_id => 'p') AS poison \gset
SELECT mq.send('gr_dl', '{"n": "next"}', group_id => 'p') AS pnext \gset
SELECT mq.nack('gr_dl', id, 'bad') FROM mq.read('gr_dl', 10);
SELECT mq.nack('gr_dl', id, 'bad again') FROM mq.read('gr_dl', 10);
SELECT payload->>'n' AS n, group_id FROM mq.read('gr_dl', 10);
SELECT payload->>'n' AS n, group_id FROM mq.peek('gr_dlq');
SELECT mq.redrive('gr_dlq');
SELECT payload->>'n' AS n, group_id, state FROM mq.peek('gr_dl');

-- Fairness: groups are chosen oldest head first, one message per group
-- per read.  1,000 groups, one of them hot (2,000 messages sent before
-- all the others): reads of 100 take one hot message each and 99 others,
-- so every group progresses while the hot one drains.
SELECT mq.purge('gr');
SELECT count(*) FROM mq.send_batch('gr', array_fill('{"hot": true}'::jsonb, ARRAY[2000]), group_id => 'hot');
SELECT count(*) FROM mq.send_batch('gr', (SELECT array_agg(jsonb_build_object('g', i)) FROM generate_series(1, 999) i),
                                   group_ids => (SELECT array_agg('cold-' || i) FROM generate_series(1, 999) i));
CREATE TEMP TABLE served (group_id text, n int);
DO $$
BEGIN
  FOR i IN 1..11 LOOP
    INSERT INTO served SELECT group_id, i FROM mq.read('gr', 100);
    PERFORM mq.ack('gr', array_agg(id)) FROM mq.q_gr WHERE leased;
  END LOOP;
END $$;
SELECT count(*) FILTER (WHERE group_id = 'hot') AS hot_served,
       count(DISTINCT group_id) FILTER (WHERE group_id <> 'hot') AS cold_groups_served,
       max(n) FILTER (WHERE group_id <> 'hot') AS reads_to_serve_them
  FROM served;
SELECT count(*) AS hot_left FROM mq.peek('gr', 10000) WHERE group_id = 'hot';
SELECT mq.purge('gr');

-- Refusals: an empty or too long group id (22023), both group_id and
-- group_ids (22023), group_ids not matching the payloads (22023), a
-- two-dimensional array (2202E).  Nothing was sent.
SELECT pg_temp.err($$SELECT mq.send('gr', '{}', group_id => '')$$);
SELECT pg_temp.err($$SELECT mq.send('gr', '{}', group_id => repeat('g', 513))$$);
SELECT pg_temp.err($$SELECT mq.send_batch('gr', ARRAY['{}']::jsonb[], group_id => 'a', group_ids => ARRAY['b'])$$);
SELECT pg_temp.err($$SELECT mq.send_batch('gr', ARRAY['{}', '{}']::jsonb[], group_ids => ARRAY['b'])$$);
SELECT pg_temp.err($$SELECT mq.send_batch('gr', ARRAY['{}']::jsonb[], group_ids => ARRAY[['b']])$$);
SELECT pg_temp.err($$SELECT mq.send_batch('gr', ARRAY['{}', '{}']::jsonb[], group_ids => ARRAY['ok', ''])$$);
SELECT pg_temp.err($$SELECT mq.send_multi(ARRAY['gr', 'pr2'], '{}', group_id => '')$$);
SELECT count(*) AS nothing_sent FROM mq.peek('gr');
SELECT mq.send('gr', '{}', group_id => repeat('g', 512)) IS NOT NULL AS longest_ok;
SELECT mq.purge('gr');

-- 3. On a partitioned queue: priority within each partition, filters in
-- every partition; a group's messages all in one partition.
SELECT mq.create_queue('prp', partitions => 3, visibility_timeout => '1 hour');
SELECT indexname FROM pg_indexes WHERE schemaname = 'mq' AND tablename LIKE 'q%\_prp' AND indexname LIKE '%priority' ORDER BY 1;
-- three transactions, one per partition: levels 0, 9, 4 in each
BEGIN;
SELECT count(*) FROM mq.send_batch('prp', ARRAY['{"p": 0}', '{"p": 9}', '{"p": 4}']::jsonb[], priorities => ARRAY[0, 9, 4]);
COMMIT;
BEGIN;
SELECT count(*) FROM mq.send_batch('prp', ARRAY['{"p": 0}', '{"p": 9}', '{"p": 4}']::jsonb[], priorities => ARRAY[0, 9, 4]);
COMMIT;
BEGIN;
SELECT count(*) FROM mq.send_batch('prp', ARRAY['{"p": 0}', '{"p": 9}', '{"p": 4}']::jsonb[], priorities => ARRAY[0, 9, 4]);
COMMIT;
SELECT count(DISTINCT id >> 48) AS partitions_used FROM mq.peek('prp', 10);
-- a read of 1 takes the highest level of the partition it starts in
SELECT priority FROM mq.read('prp', 1);
-- a read of 3 takes the rest of its first partition (4, 0), then moves on
SELECT count(*) FROM mq.read('prp', 3);
-- a filter finds its messages in whichever partition they are
SELECT count(*) AS nines FROM mq.read('prp', 10, payload_filter => '{"p": 9}');
SELECT count(*) AS rest FROM mq.read('prp', 10);
SELECT count(*) FROM mq.send_batch('prp', array_fill('{}'::jsonb, ARRAY[12]),
                                   group_ids => (SELECT array_agg('grp-' || (i % 4)) FROM generate_series(1, 12) i));
SELECT group_id, count(DISTINCT id >> 48) AS partitions FROM mq.peek('prp', 100) GROUP BY 1 ORDER BY 1;
SELECT count(DISTINCT id >> 48) > 1 AS groups_spread FROM mq.peek('prp', 100);
-- each read gets at most one message per group, in order
SELECT group_id, count(*) FROM mq.read('prp', 100) GROUP BY 1 ORDER BY 1;
-- no partitions may be added while grouped messages are queued (55000)
SELECT pg_temp.err($$SELECT mq.alter_queue('prp', partitions => 4)$$);
SELECT partitions FROM mq.queues WHERE queue_name = 'prp';
SELECT mq.purge('prp');
SELECT mq.alter_queue('prp', partitions => 4);
SELECT partitions FROM mq.queues WHERE queue_name = 'prp';

-- 4. Privileges: priority and filters need what send and read need.
CREATE ROLE mq_order_role;
SET ROLE mq_order_role;
SELECT pg_temp.err($$SELECT mq.send('pr', '{}', priority => 5)$$);
SELECT pg_temp.err($$SELECT mq.read('pr', 1, filter => '{"a": 1}')$$);
SELECT pg_temp.err($$SELECT mq.send_batch('pr', ARRAY['{}']::jsonb[], priorities => ARRAY[5])$$);
SELECT pg_temp.err($$SELECT mq.send('gr', '{}', group_id => 'g')$$);
SELECT pg_temp.err($$SELECT mq.peek('gr', 10, 'blocked')$$);
RESET ROLE;
SELECT mq.grant('pr', 'send', 'mq_order_role');
SET ROLE mq_order_role;
SELECT mq.send('pr', '{"by": "role"}', priority => 5) IS NOT NULL AS sent;
SELECT pg_temp.err($$SELECT mq.read('pr', 1, filter => '{"a": 1}')$$);
RESET ROLE;
SELECT payload, priority FROM mq.read('pr');
SELECT mq.revoke('pr', 'send', 'mq_order_role');
DROP ROLE mq_order_role;

-- 5. The shape check knows the priority and group indexes: one dropped, or one mq did
-- not make, makes the queue unusable (55000) and _queue_problems says so.
SELECT mq.create_queue('shp');
DROP INDEX mq.q_shp_priority;
SELECT pg_temp.err($$SELECT mq.send('shp', '{}')$$);
SELECT * FROM mq._queue_problems(true) WHERE queue_name = 'shp';
CREATE INDEX q_shp_priority ON mq.q_shp (priority DESC, id) WHERE priority > 1;
SELECT * FROM mq._queue_problems(true) WHERE queue_name = 'shp';
DROP INDEX mq.q_shp_priority;
CREATE INDEX q_shp_priority ON mq.q_shp (priority, id) WHERE priority <> 0;
SELECT * FROM mq._queue_problems(true) WHERE queue_name = 'shp';
DROP INDEX mq.q_shp_priority;
CREATE INDEX q_shp_priority ON mq.q_shp (priority DESC, id) WHERE priority OPERATOR(pg_catalog.<>) 0;
SELECT * FROM mq._queue_problems(true) WHERE queue_name = 'shp';
SELECT mq.send('shp', '{}', priority => 1) IS NOT NULL AS usable_again;
DROP INDEX mq.q_shp_group;
SELECT * FROM mq._queue_problems(true) WHERE queue_name = 'shp';
CREATE INDEX q_shp_group ON mq.q_shp (group_id, id);
SELECT * FROM mq._queue_problems(true) WHERE queue_name = 'shp';
DROP INDEX mq.q_shp_group;
CREATE INDEX q_shp_group ON mq.q_shp (group_id COLLATE "C", id) WHERE group_id IS NOT NULL;
SELECT * FROM mq._queue_problems(true) WHERE queue_name = 'shp';
DROP INDEX mq.q_shp_group;
CREATE INDEX q_shp_group ON mq.q_shp (group_id, id) WHERE group_id IS NOT NULL;
SELECT * FROM mq._queue_problems(true) WHERE queue_name = 'shp';
SELECT mq.send('shp', '{}', group_id => 'g') IS NOT NULL AS usable_again;

SELECT mq.drop_queue(q) FROM unnest(ARRAY['pr', 'pr2', 'pr_dl', 'pr_dlq', 'fl', 'prp', 'shp', 'gr', 'gr_dl', 'gr_dlq']) q;
