-- Sends insert directly (heap + primary key) into a queue table as
-- create_queue made it.  mq uses a queue only while its tables are in that
-- shape: any change made outside mq (an index, a trigger, a rule, a
-- policy, a column, a default, a CHECK constraint, inheritance, another
-- owner) makes every call refuse it with 55000, the worker skip it, and
-- nothing of the change ever runs; undoing the change brings it back.
\i test/sql/setup.inc
SELECT mq.create_queue('ip');

-- A large payload is stored out of line and comes back intact.
SELECT mq.send('ip', jsonb_build_object('big', repeat('x', 300000))) AS big_id \gset
SELECT length(payload->>'big') AS len, pg_column_size(payload) < 300000 AS compressed_or_toasted
FROM mq.q_ip WHERE id = :big_id;
SELECT mq.purge('ip');
SELECT mq.send('ip', '{"t": 0}') AS t0 \gset

-- shape_case(change, undo): apply a change to the queue's tables, show
-- what send, send_batch, read, ack and mq.queues do, count what got in,
-- then undo it and show that sending works again.
CREATE TABLE ip_seen (what text);
CREATE FUNCTION ip_note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO ip_seen VALUES (TG_OP); RETURN NEW; END $$;
CREATE FUNCTION ip_default() RETURNS text LANGUAGE plpgsql AS $$
BEGIN INSERT INTO ip_seen VALUES ('default'); RETURN 'x'; END $$;
CREATE FUNCTION pg_temp.shape_case(change text, undo text) RETURNS SETOF text LANGUAGE plpgsql AS $f$
DECLARE
  before bigint := (SELECT count(*) FROM mq.q_ip);
  ran bigint;
BEGIN
  EXECUTE change;
  ran := (SELECT count(*) FROM ip_seen);
  RETURN NEXT 'send:       ' || pg_temp.err($$SELECT mq.send('ip', '{"t": 1}')$$);
  RETURN NEXT 'send_batch: ' || pg_temp.err($$SELECT mq.send_batch('ip', ARRAY['{"t": 2}']::jsonb[])$$);
  RETURN NEXT 'read:       ' || pg_temp.err($$SELECT mq.read('ip')$$);
  RETURN NEXT 'ack:        ' || pg_temp.err($$SELECT mq.ack('ip', 1)$$);
  RETURN NEXT 'listed:     ' || (SELECT coalesce(depth::text, 'counts hidden') FROM mq.queues WHERE queue_name = 'ip');
  RETURN NEXT 'inserted:   ' || ((SELECT count(*) FROM mq.q_ip) - before);
  RETURN NEXT 'code ran:   ' || ((SELECT count(*) FROM ip_seen) - ran);
  EXECUTE undo;
  RETURN NEXT 'after undo: ' || pg_temp.err($$SELECT mq.send('ip', '{"t": 3}')$$);
END $f$;

SELECT pg_temp.shape_case($$CREATE INDEX ip_kind ON mq.q_ip ((payload->>'kind'))$$,
                          $$DROP INDEX mq.ip_kind$$);
SELECT pg_temp.shape_case($$CREATE TRIGGER ip_note BEFORE INSERT OR UPDATE ON mq.q_ip FOR EACH ROW EXECUTE FUNCTION ip_note()$$,
                          $$DROP TRIGGER ip_note ON mq.q_ip$$);
SELECT pg_temp.shape_case($$CREATE TRIGGER ip_note AFTER INSERT ON mq.a_ip FOR EACH ROW EXECUTE FUNCTION ip_note()$$,
                          $$DROP TRIGGER ip_note ON mq.a_ip$$);
SELECT pg_temp.shape_case($$ALTER TABLE mq.q_ip ALTER COLUMN last_error SET DEFAULT ip_default()$$,
                          $$ALTER TABLE mq.q_ip ALTER COLUMN last_error DROP DEFAULT$$);
SELECT pg_temp.shape_case($$ALTER TABLE mq.q_ip ADD CONSTRAINT ip_small CHECK (deliveries < 5)$$,
                          $$ALTER TABLE mq.q_ip DROP CONSTRAINT ip_small$$);
SELECT pg_temp.shape_case($$CREATE RULE ip_rule AS ON INSERT TO mq.q_ip DO ALSO INSERT INTO ip_seen VALUES ('rule')$$,
                          $$DROP RULE ip_rule ON mq.q_ip$$);
SELECT pg_temp.shape_case($$ALTER TABLE mq.q_ip ENABLE ROW LEVEL SECURITY$$,
                          $$ALTER TABLE mq.q_ip DISABLE ROW LEVEL SECURITY$$);
SELECT pg_temp.shape_case($$CREATE TABLE ip_child () INHERITS (mq.q_ip)$$,
                          $$DROP TABLE ip_child$$);
SELECT pg_temp.shape_case($$ALTER TABLE mq.q_ip ALTER COLUMN headers TYPE json$$,
                          $$ALTER TABLE mq.q_ip ALTER COLUMN headers TYPE jsonb$$);
SELECT pg_temp.shape_case($$CREATE ROLE mq_ip_other; ALTER TABLE mq.q_ip OWNER TO mq_ip_other$$,
                          $$ALTER TABLE mq.q_ip OWNER TO CURRENT_USER; DROP ROLE mq_ip_other$$);
SELECT pg_temp.shape_case($$ALTER TABLE mq.q_ip SET UNLOGGED$$,
                          $$ALTER TABLE mq.q_ip SET LOGGED$$);
-- What ANALYZE (autovacuum, as the table's owner) or logical decoding
-- would evaluate: extended statistics, a publication row filter.
SELECT pg_temp.shape_case($$CREATE STATISTICS public.ip_stats ON (payload->>'kind') FROM mq.q_ip$$,
                          $$DROP STATISTICS public.ip_stats$$);
SET client_min_messages = error;
SELECT pg_temp.shape_case($$CREATE PUBLICATION ip_pub FOR TABLE mq.q_ip WHERE (deliveries > 0)$$,
                          $$DROP PUBLICATION ip_pub$$);
SELECT pg_temp.shape_case($$CREATE PUBLICATION ip_pub FOR TABLE mq.a_ip WHERE (deliveries > 0)$$,
                          $$DROP PUBLICATION ip_pub$$);
RESET client_min_messages;
-- A publication without a row filter runs nothing: the queue stays usable.
SET client_min_messages = error;
CREATE PUBLICATION ip_pub_plain FOR TABLE mq.q_ip;
RESET client_min_messages;
SELECT pg_temp.err($$SELECT mq.send('ip', '{"t": 3}')$$) AS published_plain;
DROP PUBLICATION ip_pub_plain;

-- A column someone added (with a default that would run a function), even
-- once dropped again, cannot be undone: the queue stays refused, the
-- default never runs for mq, and drop_queue still removes the queue.
SELECT mq.create_queue('ip_dropped');
ALTER TABLE mq.q_ip_dropped ADD COLUMN note text DEFAULT ip_default();
SELECT count(*) AS ran_before FROM ip_seen \gset
SELECT pg_temp.err($$SELECT mq.send('ip_dropped', '{}')$$);
SELECT count(*) - :ran_before AS code_ran FROM ip_seen;
ALTER TABLE mq.q_ip_dropped DROP COLUMN note;
SELECT pg_temp.err($$SELECT mq.send('ip_dropped', '{}')$$);
SELECT mq.drop_queue('ip_dropped');

-- A queue table replaced by a view is refused, and listed without counts;
-- its function never runs.
SELECT mq.create_queue('ip_view');
DROP TABLE mq.q_ip_view;
CREATE VIEW mq.q_ip_view AS SELECT 1 AS id, ip_default() AS payload;
SELECT pg_temp.err($$SELECT mq.send('ip_view', '{}')$$);
SELECT queue_name, depth, total_bytes FROM mq.queues WHERE queue_name = 'ip_view';
SELECT count(*) AS code_ran FROM ip_seen;
SELECT mq.drop_queue('ip_view');

-- Every message sent while the queue was in shape arrived once, in order.
SELECT string_agg(payload->>'t', ',' ORDER BY id) FROM mq.read('ip', 100);

DROP TABLE ip_seen;
DROP FUNCTION ip_note();
DROP FUNCTION ip_default();
SELECT mq.drop_queue('ip');
