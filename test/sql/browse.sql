-- Looking without taking (peek), taking without a lease (pop), nack and
-- set_vt with id arrays, the text forms for untyped driver parameters, and
-- headers that must be an object.
\i test/sql/setup.inc

SELECT mq.create_queue('br', visibility_timeout => '1 hour', max_deliveries => 2);
SELECT mq.send('br', '{"n": 1}') AS b1 \gset
SELECT mq.send('br', '{"n": 2}') AS b2 \gset
SELECT mq.send('br', '{"n": 3}', delay => '2 hours') AS b3 \gset
SELECT mq.send('br', '{"n": 4}', delay => '30 minutes') AS b4 \gset
SELECT mq.send('br', '{"n": 5}', headers => '{"h": 5}') AS b5 \gset
SELECT id = :b1 AS leased_b1 FROM mq.read('br');
SELECT mq.nack('br', :b2, 'broke', '0');

-- peek: the order reads would deliver in (visible by id, then the others
-- by the time they become visible), with each message's state.
SELECT payload->>'n' AS n, state, deliveries, failures, last_error, headers
  FROM mq.peek('br');
SELECT payload->>'n' AS n FROM mq.peek('br', 2);
SELECT payload->>'n' AS n, state FROM mq.peek('br', 10, 'visible');
SELECT payload->>'n' AS n, state FROM mq.peek('br', 10, 'leased');
SELECT payload->>'n' AS n, state FROM mq.peek('br', 10, 'delayed');
-- ... without locking, leasing or counting: the same twice, and reads
-- still get everything visible
SELECT string_agg(concat_ws(':', id, deliveries, vt, leased), ',' ORDER BY id) AS before FROM mq.q_br \gset
SELECT count(*) FROM mq.peek('br');
SELECT count(*) FROM mq.peek('br');
SELECT string_agg(concat_ws(':', id, deliveries, vt, leased), ',' ORDER BY id) = :'before' AS unchanged FROM mq.q_br;
BEGIN;
SELECT count(*) AS peeked FROM mq.peek('br');
SELECT payload->>'n' AS n FROM mq.read('br', 10) ORDER BY id;
ROLLBACK;
-- refusals (22023, 22004, 42704)
SELECT pg_temp.err($$SELECT mq.peek('br', 0)$$);
SELECT pg_temp.err($$SELECT mq.peek('br', NULL)$$);
SELECT pg_temp.err($$SELECT mq.peek('br', 10, 'asleep')$$);
SELECT pg_temp.err($$SELECT mq.peek('nope')$$);

-- pop: take and delete in one statement, oldest visible first; a rollback
-- puts them back untouched (not a delivery).
SELECT mq.create_queue('pp', max_deliveries => 2);
SELECT count(*) FROM mq.send_batch('pp', ARRAY['{"n": 1}', '{"n": 2}', '{"n": 3}', '{"n": 4}']::jsonb[]);
SELECT mq.send('pp', '{"n": 5}', delay => '1 hour') AS p5 \gset
BEGIN;
SELECT payload->>'n' AS n, deliveries FROM mq.pop('pp', 2);
ROLLBACK;
SELECT count(*) AS still_there, sum(deliveries) AS deliveries FROM mq.q_pp;
SELECT payload->>'n' AS n, deliveries FROM mq.pop('pp', 2);
SELECT payload->>'n' AS n FROM mq.pop('pp');
SELECT payload->>'n' AS n FROM mq.peek('pp');
-- a message with no delivery left is not popped (a read or the worker
-- dead-letters it)
UPDATE mq.q_pp SET deliveries = 2, leased = true WHERE payload->>'n' = '4';
SELECT count(*) AS popped FROM mq.pop('pp', 10);
SELECT payload->>'n' AS n, deliveries FROM mq.q_pp ORDER BY id;
SELECT pg_temp.err($$SELECT mq.pop('pp', 0)$$);
SELECT pg_temp.err($$SELECT mq.pop('pp', 10001)$$);
SELECT pg_temp.err($$SELECT mq.pop(NULL)$$);
SELECT pg_temp.err($$SELECT mq.pop('nope')$$);

-- nack and set_vt with arrays: each id (repeats and NULLs ignored); how
-- many were found.  The nack of a last allowed delivery dead-letters it.
SELECT mq.purge('br');
SELECT array_agg(i) AS ids FROM (SELECT mq.send('br', jsonb_build_object('n', g)) i FROM generate_series(1, 4) g) x \gset
SELECT count(*) FROM mq.read('br', 4);
SELECT mq.nack('br', (:'ids'::bigint[])[1:2] || ARRAY[(:'ids'::bigint[])[1], NULL, -7], 'batch failed', '0');
SELECT payload->>'n' AS n, deliveries, failures, last_error, leased FROM mq.q_br ORDER BY id;
SELECT mq.set_vt('br', :'ids'::bigint[], '10 minutes');
SELECT count(*) FILTER (WHERE vt > now() + interval '9 minutes') AS moved FROM mq.q_br;
SELECT mq.set_vt('br', ARRAY[-1, -2]::bigint[], '0');
SELECT mq.set_vt('br', :'ids'::bigint[], '0') AS visible_again;
SELECT count(*) AS second_delivery FROM mq.read('br', 4);
SELECT mq.nack('br', :'ids'::bigint[], 'again') AS nacked_or_dead;
SELECT count(*) AS left_in_br FROM mq.q_br;
SELECT count(*) AS archived_dead FROM mq.archived('br')
 WHERE last_error LIKE 'dead: max_deliveries (2) reached; last error: again%';
SELECT pg_temp.err($$SELECT mq.nack('br', NULL::bigint[])$$);
SELECT pg_temp.err($$SELECT mq.set_vt('br', NULL::bigint[], '0')$$);
SELECT pg_temp.err($$SELECT mq.set_vt('br', ARRAY[1]::bigint[], NULL)$$);
SELECT pg_temp.err($$SELECT mq.set_vt('br', ARRAY[1]::bigint[], '-1 s')$$);
SELECT pg_temp.err($$SELECT mq.nack('br', ARRAY[1]::bigint[], 'x', '-1 s')$$);

-- Untyped parameters, as node-pg and psycopg send them, pick the text
-- forms: one id or an array literal; the typed result as jsonb.
SELECT mq.purge('br');
SELECT array_agg(i) AS ids FROM (SELECT mq.send('br', jsonb_build_object('n', g)) i FROM generate_series(1, 6) g) x \gset
PREPARE ack_u(unknown, unknown) AS SELECT mq.ack($1, $2) AS result;
PREPARE archive_u(unknown, unknown) AS SELECT mq.archive($1, $2) AS result;
PREPARE nack_u(unknown, unknown, unknown) AS SELECT mq.nack($1, $2, $3) AS result;
PREPARE set_vt_u(unknown, unknown, unknown) AS SELECT mq.set_vt($1, $2, $3) IS NOT NULL AS result;
SELECT count(*) FROM mq.read('br', 6);
EXECUTE ack_u('br', (:'ids'::bigint[])[1]::text);
EXECUTE ack_u('br', (:'ids'::bigint[])[1]::text);
EXECUTE ack_u('br', format('{%s,%s}', (:'ids'::bigint[])[2], (:'ids'::bigint[])[3]));
EXECUTE archive_u('br', (:'ids'::bigint[])[4]::text);
EXECUTE archive_u('br', format('{"%s"}', (:'ids'::bigint[])[5]));
EXECUTE nack_u('br', (:'ids'::bigint[])[6]::text, 'untyped');
EXECUTE nack_u('br', format('{%s}', (:'ids'::bigint[])[6]), 'untyped array');
EXECUTE set_vt_u('br', (:'ids'::bigint[])[6]::text, '1 hour');
SELECT mq.set_vt('br', '-1', '1 hour') AS no_such;
SELECT mq.set_vt('br', '{-1,-2}', '1 hour') AS none_found;
SELECT payload->>'n' AS n, deliveries, failures, last_error FROM mq.q_br ORDER BY id;
SELECT count(*) AS archived FROM mq.archived('br') WHERE id IN ((:'ids'::bigint[])[4], (:'ids'::bigint[])[5]);
-- literal calls resolve the same way; NULL is still 22004; garbage 22P02
SELECT mq.ack('br', '0') AS single, mq.ack('br', '{}') AS many;
SELECT pg_temp.err($$SELECT mq.ack('br', NULL)$$);
SELECT pg_temp.err($$SELECT mq.archive('br', NULL)$$);
SELECT pg_temp.err($$SELECT mq.nack('br', NULL)$$);
SELECT pg_temp.err($$SELECT mq.ack('br', 'seven')$$);
SELECT pg_temp.err($$SELECT mq.ack('br', '{1,two}')$$);
SELECT pg_temp.err($$SELECT mq.ack('br', '[1]')$$);
-- typed calls keep their forms and results
SELECT pg_typeof(mq.ack('br', 1)) AS one, pg_typeof(mq.ack('br', ARRAY[1]::bigint[])) AS many,
       pg_typeof(mq.ack('br', '1')) AS untyped;

-- Headers are a JSON object or NULL (22023, nothing sent).
SELECT mq.purge('br');
SELECT pg_temp.err($$SELECT mq.send('br', '{}', headers => '[1, 2]')$$);
SELECT pg_temp.err($$SELECT mq.send('br', '{}', headers => '"text"')$$);
SELECT pg_temp.err($$SELECT mq.send('br', '{}', headers => 'null')$$);
SELECT pg_temp.err($$SELECT mq.send_batch('br', ARRAY['{}', '{}']::jsonb[], headers => '7')$$);
SELECT pg_temp.err($$SELECT mq.send_multi(ARRAY['br', 'pp'], '{}', headers => '[]')$$);
SELECT count(*) AS nothing_sent FROM mq.q_br;
SELECT mq.send('br', '{}', headers => NULL) > 0 AS null_ok, mq.send('br', '{}', headers => '{}') > 0 AS object_ok;

-- Messages stored by 0.4.0 and earlier with headers that are not an
-- object: dead-lettering keeps them under mq_original_headers, and redrive
-- works for them and for 0.3.0/0.4.0 dead letters made from them (an
-- array ending in the record).
SELECT mq.create_queue('br_dlq');
SELECT mq.create_queue('br_old', max_deliveries => 1, dead_letter_queue => 'br_dlq');
SELECT mq.send('br_old', '{"n": "array"}') AS o1 \gset
SELECT mq.send('br_old', '{"n": "string"}') AS o2 \gset
SELECT mq.send('br_old', '{"n": "json null"}') AS o3 \gset
UPDATE mq.q_br_old SET headers = '[1, 2]' WHERE id = :o1;
UPDATE mq.q_br_old SET headers = '"s"' WHERE id = :o2;
UPDATE mq.q_br_old SET headers = 'null' WHERE id = :o3;
SELECT count(mq.nack('br_old', id, 'fail')) AS dead FROM mq.read('br_old', 3);
SELECT payload->>'n' AS n, headers->'mq_original_headers' AS original,
       headers->'mq_dead_letter'->>'queue' AS origin FROM mq.q_br_dlq ORDER BY id;
-- a dead letter as 0.3.0 and 0.4.0 made it from array headers
SELECT mq.send('br_dlq', '{"n": "old dead letter"}') AS o4 \gset
UPDATE mq.q_br_dlq SET headers = '[1, 2, {"mq_dead_letter": {"queue": "br_old", "id": 99, "deliveries": 1, "reason": "max_deliveries"}}]'
 WHERE id = :o4;
SELECT mq.redrive('br_dlq', NULL, 10) AS redriven;
SELECT payload->>'n' AS n, headers->'mq_original_headers' AS original,
       jsonb_array_length(headers->'mq_history') AS history, headers ? 'mq_dead_letter' AS still_dead
  FROM mq.q_br_old ORDER BY id;

SELECT mq.drop_queue('br_old');
SELECT mq.drop_queue('br_dlq');
SELECT mq.drop_queue('br');
SELECT mq.drop_queue('pp');
