-- ALTER EXTENSION mq UPDATE from 0.1.0 (to 0.2.0, then to the newest):
-- queues and messages survive, the
-- new arguments and columns appear, and the 0.1.0 functions keep working
-- with the new library before the update.
\i test/sql/setup.inc
SET client_min_messages = warning;
DROP EXTENSION mq;
CREATE EXTENSION mq VERSION '0.1.0';
RESET client_min_messages;
SELECT extversion FROM pg_extension WHERE extname = 'mq';

-- 0.1.0 signatures on the new library
SELECT mq.create_queue('up', '45 seconds');
SELECT mq.send('up', '{"v": 1}') AS id1 \gset
SELECT mq.send('up', '{"v": 2}') AS id2 \gset
SELECT id = :id1 AS got_first, deliveries FROM mq.read('up', 1, '1 hour');
SELECT queue_name, depth, in_flight FROM mq.queues;

ALTER EXTENSION mq UPDATE TO '0.2.0';
SELECT extversion FROM pg_extension WHERE extname = 'mq';

-- same queue, same messages, new columns
SELECT queue_name, visibility_timeout, depth, in_flight, notify, waiting FROM mq.queues;
SELECT id = :id2 AS got_second FROM mq.read('up', 5, NULL, NULL, 3);
SELECT mq.create_queue('up2', notify => true);
SELECT queue_name, notify FROM mq.queue ORDER BY 1;
SELECT pg_catalog.pg_get_function_identity_arguments(p.oid) AS read_args
  FROM pg_proc p WHERE p.proname = 'read' AND p.pronamespace = 'mq'::regnamespace;

-- a queue table as the 0.1.0 and 0.2.0 libraries made it (no failure
-- columns), made by hand here; this library serves it as it is
INSERT INTO mq.queue (queue_name, visibility_timeout) VALUES ('old', '30 seconds');
CREATE TABLE mq.q_old (id bigserial PRIMARY KEY, vt timestamptz NOT NULL,
    deliveries integer NOT NULL DEFAULT 0, leased boolean NOT NULL DEFAULT false,
    enqueued_at timestamptz NOT NULL, last_error text, headers jsonb, payload jsonb NOT NULL);
CREATE TABLE mq.a_old (id bigint PRIMARY KEY, payload jsonb NOT NULL, headers jsonb,
    enqueued_at timestamptz NOT NULL, archived_at timestamptz NOT NULL,
    deliveries integer NOT NULL, last_error text);
SELECT mq.send('old', '{"v": "old"}') AS old1 \gset
SELECT mq.nack('old', id, 'old error', '0') FROM mq.read('old');
SELECT id = :old1 AS got_old, deliveries FROM mq.read('old', 5, '1 ms');
SELECT pg_sleep(0.01) AS lease_over \gset
SELECT deliveries, leased, last_error FROM mq.q_old;

-- and on to the newest version
ALTER EXTENSION mq UPDATE;
SELECT extversion = default_version AS newest
  FROM pg_extension, pg_available_extensions WHERE extname = 'mq' AND name = 'mq';
SELECT * FROM mq.send_multi(ARRAY['up', 'up2'], '{"v": 3}');
SELECT queue_name, depth FROM mq.queues ORDER BY 1;

-- the old queue table gained the failure record, in the order a new
-- queue has it; its lease that expired before the update counts now
SELECT failures, first_error, last_error, failed_at FROM mq.q_old;
SELECT mq.create_queue('up3');
SELECT count(DISTINCT cols) AS layouts, count(*) AS tables FROM (
  SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum) AS cols
    FROM pg_attribute a JOIN pg_class t ON t.oid = a.attrelid
   WHERE t.relnamespace = 'mq'::regnamespace AND t.relname IN ('q_old', 'q_up', 'q_up2', 'q_up3')
     AND a.attnum > 0 AND NOT a.attisdropped
   GROUP BY t.relname) l;
SELECT deliveries, last_error FROM mq.read('old', 5, '1 ms');
SELECT pg_sleep(0.01) AS lease_over \gset
SELECT mq.nack('old', id, 'new error', '0') FROM mq.read('old');
SELECT deliveries, failures, first_error, last_error, failed_at IS NOT NULL AS dated FROM mq.q_old;
SELECT mq.send('old', '{"v": "new"}') > :old1 AS sent_after_update;
SELECT mq.drop_queue('up3');
SELECT mq.drop_queue('old');

-- what a fresh install creates is what the updates create
SELECT count(*) AS functions FROM pg_proc WHERE pronamespace = 'mq'::regnamespace;
SELECT mq.drop_queue('up');
SELECT mq.drop_queue('up2');
SET client_min_messages = warning;
DROP EXTENSION mq;
CREATE EXTENSION mq;
RESET client_min_messages;
SELECT extversion = default_version AS newest
  FROM pg_extension, pg_available_extensions WHERE extname = 'mq' AND name = 'mq';
SELECT count(*) AS functions FROM pg_proc WHERE pronamespace = 'mq'::regnamespace;

-- From 0.3.0, where roles used queues through table privileges, to 0.4.0:
-- the update turns what each role could do into mq privileges, gives the
-- tables to the owner of mq's objects, takes every table privilege away,
-- and the queue, its messages and its roles keep working.
SET client_min_messages = warning;
DROP EXTENSION mq;
CREATE EXTENSION mq VERSION '0.3.0';
RESET client_min_messages;
CREATE ROLE mq_up_creator;
CREATE ROLE mq_up_producer;
CREATE ROLE mq_up_consumer;
CREATE ROLE mq_up_outsider;
GRANT USAGE, CREATE ON SCHEMA mq TO mq_up_creator;
GRANT SELECT, INSERT, UPDATE, DELETE ON mq.queue, mq.dedup TO mq_up_creator;
GRANT USAGE ON SCHEMA mq TO mq_up_producer, mq_up_consumer;
GRANT SELECT ON mq.queue TO mq_up_producer, mq_up_consumer;
SET ROLE mq_up_creator;
SELECT mq.create_queue('up_jobs');
GRANT INSERT ON mq.q_up_jobs TO mq_up_producer;
GRANT USAGE ON SEQUENCE mq.q_up_jobs_id_seq TO mq_up_producer;
GRANT SELECT, UPDATE, DELETE ON mq.q_up_jobs TO mq_up_consumer;
GRANT INSERT ON mq.a_up_jobs TO mq_up_consumer;
RESET ROLE;
SET ROLE mq_up_producer;
SELECT mq.send('up_jobs', '{"n": 1}') AS before_update;
RESET ROLE;
SET ROLE mq_up_consumer;
SELECT payload FROM mq.read('up_jobs', 1, '1 ms');
SELECT pg_sleep(0.01) AS lease_over \gset
RESET ROLE;
SELECT mq.create_queue('up_super');

-- What that creator could also do in 0.3.0, and what the update must not
-- hand to a superuser: a "queue" whose table is a view (here over
-- pg_authid, with its columns granted to PUBLIC), a queue table with
-- extended statistics whose expression calls a function that makes the
-- creator a superuser when a superuser runs it (ANALYZE runs them as the
-- table's owner), and column privileges on a queue table.
CREATE SCHEMA mq_up_evil AUTHORIZATION mq_up_creator;
CREATE ROLE mq_up_plain;
SET ROLE mq_up_creator;
CREATE FUNCTION mq_up_evil.escalate() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    EXECUTE 'ALTER ROLE mq_up_creator SUPERUSER';
  END IF;
END $$;
CREATE FUNCTION mq_up_evil.f(jsonb) RETURNS int LANGUAGE plpgsql IMMUTABLE AS
  $$BEGIN PERFORM mq_up_evil.escalate(); RETURN 1; END$$;
INSERT INTO mq.queue (queue_name, visibility_timeout) VALUES ('up_view', '30 seconds');
CREATE VIEW mq.q_up_view AS SELECT rolname, rolsuper FROM pg_catalog.pg_authid;
CREATE TABLE mq.a_up_view (id bigint);
GRANT SELECT (rolname, rolsuper), UPDATE (rolsuper) ON mq.q_up_view TO PUBLIC;
SELECT mq.create_queue('up_stats');
CREATE STATISTICS mq_up_evil.s ON (mq_up_evil.f(payload)) FROM mq.q_up_stats;
GRANT SELECT (payload) ON mq.q_up_jobs TO mq_up_plain;
RESET ROLE;

-- The creator could make anything in schema mq.  The update refuses to run
-- while a role other than superusers may create there; once that right is
-- revoked (mq grants the right to create queues by itself), it refuses to
-- run over objects that are not mq's, and says which: here an overload of
-- mq.send (an untyped call would pick it), and a view posing as a queue
-- table.
SET ROLE mq_up_creator;
CREATE FUNCTION mq.send(queue_name text, payload text) RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint';
RESET ROLE;
SELECT pg_temp.err($$ALTER EXTENSION mq UPDATE TO '0.4.0'$$);
REVOKE CREATE ON SCHEMA mq FROM mq_up_creator;
DO $$
DECLARE
  detail text;
BEGIN
  ALTER EXTENSION mq UPDATE TO '0.4.0';
EXCEPTION WHEN insufficient_privilege THEN
  GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
  RAISE NOTICE '%: %', SQLERRM, detail;
END $$;
SELECT extversion FROM pg_extension WHERE extname = 'mq';
DROP FUNCTION mq.send(text, text);
DROP VIEW mq.q_up_view;
ALTER EXTENSION mq UPDATE TO '0.4.0';

SELECT queue_name, owner FROM mq.queue ORDER BY 1;
SELECT queue_name, grantee, privilege FROM mq.privilege ORDER BY 1, 2::text, 3;
SELECT c.relname, pg_get_userbyid(c.relowner) AS owner, c.relacl IS NULL
       OR NOT EXISTS (SELECT 1 FROM aclexplode(c.relacl) a WHERE a.grantee <> c.relowner) AS owner_only
  FROM pg_class c WHERE c.relnamespace = 'mq'::regnamespace AND c.relkind IN ('r', 'S')
 ORDER BY 1;
SELECT r AS role, has_schema_privilege(r, 'mq', 'CREATE') AS may_create_in_schema
  FROM unnest(ARRAY['mq_up_creator', 'mq_up_producer']) r;
-- The queue whose table was a view, and the table with statistics,
-- stayed their creator's (with a WARNING each above), are refused, and
-- nothing of them runs as a superuser: not ANALYZE.
SELECT * FROM mq._queue_problems() ORDER BY 1;
SELECT relname, pg_get_userbyid(relowner) AS owner FROM pg_class
 WHERE relname IN ('a_up_view', 'q_up_stats') ORDER BY 1;
SET ROLE mq_up_plain;
SELECT pg_temp.err($$SELECT payload FROM mq.q_up_jobs$$) AS column_grant_gone;
RESET ROLE;
SELECT pg_temp.err($$SELECT mq.send('up_stats', '{}')$$);
ANALYZE mq.q_up_stats;
SELECT rolsuper AS creator_is_superuser FROM pg_roles WHERE rolname = 'mq_up_creator';
-- The remedy: undo the change, then adopt the queue (under a lock that
-- keeps anything from being attached between the look and the hand-over).
SELECT mq._adopt_queue('up_stats') AS still_wrong;
DROP STATISTICS mq_up_evil.s;
SELECT mq._adopt_queue('up_stats') IS NULL AS adopted;
SELECT mq.send('up_stats', '{}') > 0 AS usable_again;
SET ROLE mq_up_plain;
SELECT pg_temp.err($$SELECT mq._adopt_queue('up_jobs')$$) AS not_for_others;
RESET ROLE;

-- Each role does what it did before, with no table privilege, and no more.
SET ROLE mq_up_producer;
SELECT mq.send('up_jobs', '{"n": 2}') > 0 AS producer_sends;
SELECT pg_temp.err($$SELECT mq.read('up_jobs')$$);
SELECT pg_temp.err($$SELECT mq.create_queue('up_mine')$$);
RESET ROLE;
SET ROLE mq_up_consumer;
SELECT string_agg(payload->>'n', ',' ORDER BY id) AS consumer_reads FROM mq.read('up_jobs', 10, '1 ms');
SELECT pg_sleep(0.01) AS lease_over \gset
SELECT mq.ack('up_jobs', id) FROM mq.read('up_jobs', 10) ORDER BY id;
SELECT pg_temp.err($$SELECT mq.send('up_jobs', '{}')$$);
RESET ROLE;
SET ROLE mq_up_creator;
SELECT mq.alter_queue('up_jobs', visibility_timeout => '1 minute');
SELECT mq.create_queue('up_more');
SELECT queue_name, owner FROM mq.queues ORDER BY 1;
SELECT mq.drop_queue('up_more');
RESET ROLE;
SET ROLE mq_up_outsider;
SELECT count(*) AS outsider_sees FROM mq.queues;
SELECT pg_temp.err($$SELECT mq.send('up_jobs', '{}')$$);
RESET ROLE;
SELECT mq.drop_queue('up_jobs');
SELECT mq.drop_queue('up_super');
SET client_min_messages = warning;
SELECT mq.drop_queue('up_view');
SELECT mq.drop_queue('up_stats');
DROP EXTENSION mq;
CREATE EXTENSION mq;
RESET client_min_messages;
DROP OWNED BY mq_up_creator, mq_up_producer, mq_up_consumer, mq_up_plain;
DROP ROLE mq_up_creator, mq_up_producer, mq_up_consumer, mq_up_outsider, mq_up_plain;

-- From 0.4.0 to 0.5.0: a queue's messages (visible, leased, delayed, with
-- a failure, with headers that are not an object, as 0.4.0 allowed) and
-- its archive survive; before the update this library serves the 0.4.0
-- objects, after it mq.queues counts rollbacks and the new functions work.
SET client_min_messages = warning;
DROP EXTENSION mq;
CREATE EXTENSION mq VERSION '0.4.0';
RESET client_min_messages;
SELECT mq.create_queue('up5', max_deliveries => 3);
SELECT mq.send('up5', '{"n": 1}') AS u1 \gset
SELECT mq.send('up5', '{"n": 2}') AS u2 \gset
SELECT mq.send('up5', '{"n": 3}', delay => '1 hour') AS u3 \gset
SELECT mq.send('up5', '{"n": 4}') AS u4 \gset
SELECT mq.send('up5', '{"n": 5}') AS u5 \gset
UPDATE mq.q_up5 SET headers = '["old", "array"]' WHERE id = :u2;
SELECT count(*) AS leased FROM mq.read('up5', 1, '1 hour');
SELECT mq.archive('up5', :u4) AS archived;
SELECT mq.nack('up5', :u5, 'failed under 0.4.0', '0') FROM mq.read('up5', 10) WHERE id = :u5;
SELECT mq.set_vt('up5', :u2, '0') IS NOT NULL AS u2_visible;
SELECT queue_name, depth, in_flight, delayed, archived FROM mq.queues WHERE queue_name = 'up5';
-- A message table as 0.4.0 made it (no priority column, no priority
-- index), served as it is before the update.
SELECT mq.create_queue('up5o');
DROP TABLE mq.q_up5o;
CREATE TABLE mq.q_up5o (id bigserial PRIMARY KEY, vt timestamptz NOT NULL,
  deliveries integer NOT NULL DEFAULT 0, leased boolean NOT NULL DEFAULT false,
  enqueued_at timestamptz NOT NULL, last_error text, headers jsonb, payload jsonb NOT NULL,
  failures integer NOT NULL DEFAULT 0, first_error text, failed_at timestamptz);
SELECT mq.send('up5o', '{"o": 1}') AS o1 \gset
SELECT mq.send('up5o', '{"o": 2}') AS o2 \gset
SELECT id = :o1 AS o1_leased FROM mq.read('up5o', 1, '1 hour');
ALTER EXTENSION mq UPDATE TO '0.5.0';
SELECT extversion FROM pg_extension WHERE extname = 'mq';
SELECT payload->>'n' AS n, state, deliveries, failures, last_error, headers FROM mq.peek('up5');
SELECT queue_name, depth, in_flight, delayed, archived, coalesce(rollbacks, 0) AS rollbacks
  FROM mq.queues WHERE queue_name = 'up5';
SELECT count(*) AS archive_kept FROM mq.archived('up5');
SELECT payload->>'n' AS n, headers FROM mq.pop('up5', 2);
SELECT mq.ack('up5', :u1::text) AS untyped_ack;
-- The 0.4.0 table gained the priority and group columns and indexes: its messages have
-- priority 0 (the leased one still leased), and a message of priority 9
-- overtakes them.
SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute
 WHERE attrelid = 'mq.q_up5o'::regclass AND attnum > 0 ORDER BY attnum DESC LIMIT 2;
SELECT indexdef FROM pg_indexes WHERE schemaname = 'mq' AND tablename = 'q_up5o' ORDER BY 1;
SELECT payload->>'o' AS o, state, priority FROM mq.peek('up5o');
SELECT mq.send('up5o', '{"o": 3}', priority => 9) AS o3 \gset
SELECT payload->>'o' AS o, priority FROM mq.read('up5o', 10);
SELECT count(*) AS problems FROM mq._queue_problems(true);
SELECT mq.drop_queue('up5o');
-- A queue of 0.4.0 has one partition, and can be given more.
SELECT partitions FROM mq.queues WHERE queue_name = 'up5';
SELECT mq.alter_queue('up5', partitions => 2);
SELECT mq.send('up5', '{"n": 6}') > 0 AS sent;
SELECT mq.send('up5', '{"n": 7}') > 0 AS sent;
SELECT count(DISTINCT id >> 48) AS partitions_used FROM mq.peek('up5', 100)
 WHERE payload->>'n' IN ('6', '7');
SELECT partitions, depth + in_flight + delayed AS messages FROM mq.queues WHERE queue_name = 'up5';
SELECT mq.create_queue('up5p', partitions => 3);
SELECT partitions FROM mq.queues WHERE queue_name = 'up5p';
SELECT mq.drop_queue('up5p');
-- A queue made by 0.4.0 can keep history once updated: its messages'
-- events from then on.
SELECT history, history_retention FROM mq.queue WHERE queue_name = 'up5';
SELECT mq.alter_queue('up5', history => true);
SELECT mq.send('up5', '{"n": 6}') AS u6 \gset
SELECT event FROM mq.trace('up5', :u6);
SELECT count(*) AS functions FROM pg_proc WHERE pronamespace = 'mq'::regnamespace;
SELECT mq.drop_queue('up5');
SET client_min_messages = warning;
DROP EXTENSION mq;
CREATE EXTENSION mq;
RESET client_min_messages;
