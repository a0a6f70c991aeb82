-- Bad input: every error has its SQLSTATE and changes nothing.
\i test/sql/setup.inc
SELECT mq.create_queue('valid_q');
SELECT mq.send('valid_q', '{"keep": true}') > 0 AS sent;

-- Invalid names (42602): never folded, quoted or spliced into SQL.
SELECT pg_temp.err($$SELECT mq.create_queue('')$$);
SELECT pg_temp.err($$SELECT mq.create_queue('Orders')$$);
SELECT pg_temp.err($$SELECT mq.create_queue('has space')$$);
SELECT pg_temp.err($$SELECT mq.create_queue('9starts_with_digit')$$);
SELECT pg_temp.err($$SELECT mq.create_queue('quote''s')$$);
SELECT pg_temp.err($$SELECT mq.create_queue('semi;colon')$$);
SELECT pg_temp.err($$SELECT mq.create_queue('x"; DROP TABLE mq.queue; --')$$);
SELECT pg_temp.err($$SELECT mq.create_queue('valid_q); DROP TABLE mq.queue; --')$$);
SELECT pg_temp.err($$SELECT mq.create_queue('dash-ed')$$);
SELECT pg_temp.err($$SELECT mq.create_queue('dot.ted')$$);
SELECT pg_temp.err($$SELECT mq.create_queue('ünïcode')$$);
SELECT pg_temp.err($$SELECT mq.send('valid_q''; DELETE FROM mq.q_valid_q; --', '{}')$$);
SELECT pg_temp.err($$SELECT * FROM mq.read('VALID_Q')$$);
SELECT pg_temp.err($$SELECT mq.ack(' valid_q', 1)$$);
SELECT pg_temp.err($$SELECT mq.purge('valid_q ')$$);
-- Too long (42622): 49 bytes; 48 is fine.
SELECT pg_temp.err($$SELECT mq.create_queue(repeat('a', 49))$$);
SELECT mq.create_queue(repeat('b', 48));
SELECT mq.drop_queue(repeat('b', 48));
-- NULL names (22004).
SELECT pg_temp.err($$SELECT mq.create_queue(NULL)$$);
SELECT pg_temp.err($$SELECT mq.send(NULL, '{}')$$);
SELECT pg_temp.err($$SELECT * FROM mq.read(NULL)$$);
SELECT pg_temp.err($$SELECT mq.ack(NULL, 1)$$);
SELECT pg_temp.err($$SELECT mq.drop_queue(NULL)$$);
-- NULL payload, ids (22004).
SELECT pg_temp.err($$SELECT mq.send('valid_q', NULL)$$);
SELECT pg_temp.err($$SELECT * FROM mq.send_batch('valid_q', NULL)$$);
SELECT pg_temp.err($$SELECT * FROM mq.send_batch('valid_q', ARRAY['{"a":1}', NULL]::jsonb[])$$);
-- A two-dimensional batch (2202E).
SELECT pg_temp.err($$SELECT * FROM mq.send_batch('valid_q', ARRAY[['{"a":1}'], ['{"b":2}']]::jsonb[])$$);
SELECT pg_temp.err($$SELECT mq.ack('valid_q', NULL::bigint)$$);
SELECT pg_temp.err($$SELECT mq.ack('valid_q', NULL::bigint[])$$);
SELECT pg_temp.err($$SELECT mq.nack('valid_q', NULL)$$);
SELECT pg_temp.err($$SELECT * FROM mq.read('valid_q', NULL)$$);
SELECT pg_temp.err($$SELECT mq.set_vt('valid_q', 1, NULL)$$);
-- qty out of range, negative intervals (22023).
SELECT pg_temp.err($$SELECT * FROM mq.read('valid_q', 0)$$);
SELECT pg_temp.err($$SELECT * FROM mq.read('valid_q', -3)$$);
SELECT pg_temp.err($$SELECT * FROM mq.read('valid_q', 10001)$$);
SELECT pg_temp.err($$SELECT * FROM mq.read('valid_q', 1, '-1 second')$$);
SELECT pg_temp.err($$SELECT mq.send('valid_q', '{}', delay => '-1 second')$$);
SELECT pg_temp.err($$SELECT * FROM mq.send_batch('valid_q', ARRAY['{}']::jsonb[], delay => '-1 day')$$);
SELECT pg_temp.err($$SELECT mq.nack('valid_q', 1, 'x', '-5 minutes')$$);
SELECT pg_temp.err($$SELECT mq.set_vt('valid_q', 1, '-1 second')$$);
-- Payload over mq.max_payload_size (54000).
SET mq.max_payload_size = '1kB';
SHOW mq.max_payload_size;
SELECT pg_temp.err($$SELECT mq.send('valid_q', jsonb_build_object('blob', repeat('x', 2000)))$$);
SELECT pg_temp.err($$SELECT mq.send('valid_q', '{"small": 1}', jsonb_build_object('h', repeat('y', 2000)))$$);
SELECT pg_temp.err($$SELECT * FROM mq.send_batch('valid_q', ARRAY['{"ok": 1}', jsonb_build_object('blob', repeat('x', 2000))])$$);
SELECT mq.send('valid_q', jsonb_build_object('fits', repeat('x', 500))) > 0 AS sent_small;
RESET mq.max_payload_size;
SELECT mq.send('valid_q', jsonb_build_object('blob', repeat('x', 2000))) > 0 AS sent_default_limit;
SELECT pg_temp.err($$SET mq.max_payload_size = 10$$);
-- Misspelt mq.* settings are refused: the prefix is reserved.
SELECT pg_temp.err($$SET mq.no_such_setting = 1$$);

-- The messages name the queue, with detail and hint where useful.
SELECT mq.send('missing_q', '{}');
SELECT * FROM mq.read('valid_q', 0);
SELECT mq.create_queue('valid_q');

-- A queue whose table was dropped by hand (not through mq.drop_queue) is
-- reported, with a hint, rather than failing obscurely (42P01).
SELECT mq.create_queue('damaged');
DROP TABLE mq.q_damaged;
SELECT mq.send('damaged', '{}');
SELECT pg_temp.err($$SELECT * FROM mq.read('damaged')$$);
SELECT mq.drop_queue('damaged');

-- Nothing above changed anything: one queue, its relations, three messages.
SELECT queue_name FROM mq.queue ORDER BY 1;
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'mq' AND c.relkind IN ('r', 'S');
SELECT count(*), count(*) FILTER (WHERE payload ? 'keep') AS kept FROM mq.q_valid_q;
SELECT mq.drop_queue('valid_q');
