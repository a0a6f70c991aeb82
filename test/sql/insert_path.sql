-- Sends insert directly (heap + every index) into a queue table as
-- create_queue made it, and through a plain INSERT when the table was
-- changed; both behave the same.
\i test/sql/setup.inc
SELECT mq.create_queue('ip');

-- A large payload is stored out of line and comes back intact.
SELECT mq.send('ip', jsonb_build_object('big', repeat('x', 300000))) AS big_id \gset
SELECT length(payload->>'big') AS len, pg_column_size(payload) < 300000 AS compressed_or_toasted
FROM mq.q_ip WHERE id = :big_id;
SELECT mq.purge('ip');

-- An index someone added is kept up to date by direct sends.
CREATE INDEX ip_kind ON mq.q_ip ((payload->>'kind'));
SELECT count(*) FROM mq.send_batch('ip', ARRAY['{"kind": "a"}', '{"kind": "b"}', '{"kind": "a"}']::jsonb[]);
SELECT mq.send('ip', '{"kind": "a"}') > 0 AS sent;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM mq.q_ip WHERE payload->>'kind' = 'a';
SELECT count(*) FROM mq.q_ip WHERE payload->>'kind' = 'a';
RESET enable_seqscan;
RESET enable_bitmapscan;
DROP INDEX mq.ip_kind;

-- With a trigger on the table, sends go through INSERT and fire it.
CREATE TABLE ip_seen (id bigint);
CREATE FUNCTION ip_note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO ip_seen VALUES (NEW.id); RETURN NEW; END $$;
CREATE TRIGGER ip_note AFTER INSERT ON mq.q_ip FOR EACH ROW EXECUTE FUNCTION ip_note();
SELECT mq.send('ip', '{"t": 1}') AS t1 \gset
SELECT count(*) FROM mq.send_batch('ip', ARRAY['{"t": 2}', '{"t": 3}']::jsonb[]);
SELECT count(*) AS trigger_saw, bool_or(id = :t1) AS saw_t1 FROM ip_seen;
DROP TRIGGER ip_note ON mq.q_ip;
SELECT mq.send('ip', '{"t": 4}') > 0 AS sent;
SELECT count(*) AS trigger_saw FROM ip_seen;

-- A column someone added: INSERT fills its default.
ALTER TABLE mq.q_ip ADD COLUMN note text DEFAULT 'via insert';
SELECT mq.send('ip', '{"t": 5}') AS t5 \gset
SELECT note FROM mq.q_ip WHERE id = :t5;
ALTER TABLE mq.q_ip DROP COLUMN note;
SELECT mq.send('ip', '{"t": 6}') > 0 AS sent;

-- Every message arrived once, in order, whichever path sent it.
SELECT string_agg(coalesce(payload->>'t', payload->>'kind'), ',' ORDER BY id) FROM mq.read('ip', 100);

-- A role without INSERT on the queue table cannot send (42501), either way.
CREATE ROLE mq_ip_reader;
GRANT USAGE ON SCHEMA mq TO mq_ip_reader;
GRANT SELECT ON mq.queue TO mq_ip_reader;
SET ROLE mq_ip_reader;
SELECT pg_temp.err($$SELECT mq.send('ip', '{"sneaky": true}')$$);
SELECT pg_temp.err($$SELECT * FROM mq.send_batch('ip', ARRAY['{"sneaky": true}']::jsonb[])$$);
RESET ROLE;
SELECT count(*) FROM mq.q_ip WHERE payload ? 'sneaky';

DROP OWNED BY mq_ip_reader;
DROP ROLE mq_ip_reader;
DROP TABLE ip_seen;
DROP FUNCTION ip_note();
SELECT mq.drop_queue('ip');
