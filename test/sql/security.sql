-- Attacks on mq by a role that a DBA allowed to create queues (and by
-- others), each of which worked against 0.3.0 and must now fail, with
-- nothing changed.  The worker's side (a trigger that a sweep would fire;
-- a broken queue that stopped the worker) is test/shell/worker.sh; a DROP
-- EXTENSION racing calls is test/shell/dropext_race.sh; shared memory per
-- queue is test/shell/shmem.sh.
\i test/sql/setup.inc
SET client_min_messages = warning;
CREATE ROLE mq_sec_attacker;
CREATE ROLE mq_sec_victim;
-- Both may create queues; the victim has a queue with a message and a key.
CREATE FUNCTION pg_temp.victim_setup() RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
  PERFORM mq.grant_create('mq_sec_attacker');
  PERFORM mq.grant_create('mq_sec_victim');
  SET LOCAL ROLE mq_sec_victim;
  PERFORM mq.create_queue('sec_secret');
  PERFORM mq.send('sec_secret', '{"card": "4111"}', dedup_key => 'order-41');
  RESET ROLE;
END $f$;
SELECT pg_temp.victim_setup();
SET ROLE mq_sec_attacker;
SELECT mq.create_queue('sec_mine');
RESET ROLE;
CREATE FUNCTION pg_temp.trap_count() RETURNS bigint LANGUAGE sql AS
  $$SELECT count(*) FROM pg_roles WHERE rolname = 'mq_sec_attacker' AND rolsuper$$;

-- 1 and 2. The creator of a queue does not own its tables: it cannot add
-- a trigger (that the worker would fire as superuser), a column with a
-- default, a rule, or replace the table with a view.
CREATE SCHEMA mq_sec_att AUTHORIZATION mq_sec_attacker;
SET ROLE mq_sec_attacker;
SET search_path = mq_sec_att;
CREATE FUNCTION mq_sec_escalate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    EXECUTE 'ALTER ROLE mq_sec_attacker SUPERUSER';
  END IF;
  RETURN NEW;
END $$;
CREATE FUNCTION mq_sec_default() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    EXECUTE 'ALTER ROLE mq_sec_attacker SUPERUSER';
  END IF;
  RETURN 'x';
END $$;
SELECT pg_temp.err($$CREATE TRIGGER t AFTER UPDATE ON mq.q_sec_mine FOR EACH ROW EXECUTE FUNCTION mq_sec_escalate()$$);
SELECT pg_temp.err($$ALTER TABLE mq.q_sec_mine ADD COLUMN x text DEFAULT mq_sec_default()$$);
SELECT pg_temp.err($$ALTER TABLE mq.q_sec_mine ALTER COLUMN last_error SET DEFAULT mq_sec_default()$$);
SELECT pg_temp.err($$CREATE RULE r AS ON INSERT TO mq.q_sec_mine DO ALSO SELECT mq_sec_default()$$);
SELECT pg_temp.err($$DROP TABLE mq.q_sec_mine$$);
SELECT pg_temp.err($$CREATE VIEW mq.q_sec_view AS SELECT mq_sec_default()$$);
SELECT pg_temp.err($$ALTER TABLE mq.q_sec_mine RENAME TO q_sec_gone$$);
SELECT pg_temp.err($$CREATE TABLE mq.evil (a int)$$);
SELECT pg_temp.err($$CREATE FUNCTION mq.send(text, text) RETURNS bigint LANGUAGE sql AS 'SELECT 1::bigint'$$);
-- Nor read or write any table of mq directly.
SELECT pg_temp.err($$SELECT * FROM mq.q_sec_mine$$);
SELECT pg_temp.err($$INSERT INTO mq.q_sec_secret (vt, enqueued_at, payload) VALUES (now(), now(), '{}')$$);
SELECT pg_temp.err($$UPDATE mq.queue SET dead_letter_queue = 'sec_secret' WHERE queue_name = 'sec_mine'$$);
SELECT pg_temp.err($$SELECT * FROM mq.privilege$$);
RESET search_path;
RESET ROLE;
-- A superuser's use of the queue and its listing run nothing of the
-- attacker's: the queue's tables are as mq made them.
SELECT mq.send('sec_mine', '{}') > 0 AS sent, count(*) AS listed FROM mq.queues WHERE queue_name = 'sec_mine';
SELECT count(*) AS read FROM mq.read('sec_mine', 10, '1 ms');
SELECT pg_sleep(0.01) AS lease_over \gset
SELECT pg_temp.trap_count() AS attacker_is_superuser;

-- 3. A schema mq made beforehand by a non-superuser (here the database's
-- would-be owner) is refused by CREATE EXTENSION, and nothing is created.
SET client_min_messages = warning;
SELECT mq.drop_queue('sec_mine');
SELECT mq.drop_queue('sec_secret');
DROP EXTENSION mq;
DROP SCHEMA mq;
RESET client_min_messages;
CREATE ROLE mq_sec_dbowner;
CREATE SCHEMA mq AUTHORIZATION mq_sec_dbowner;
SELECT pg_temp.err($$CREATE EXTENSION mq$$);
SELECT count(*) AS extension_rows FROM pg_extension WHERE extname = 'mq';
SELECT count(*) AS objects_in_mq FROM pg_class WHERE relnamespace = 'mq'::regnamespace;
-- One owned by a superuser, where another role may create: refused (that
-- role could be creating an overload of mq's functions this very moment,
-- invisible until it commits).  Once the right is revoked, an overload it
-- planted is found (after waiting for transactions older than CREATE
-- EXTENSION), and refused too.
DROP SCHEMA mq;
CREATE SCHEMA mq;
GRANT CREATE, USAGE ON SCHEMA mq TO mq_sec_dbowner;
SET ROLE mq_sec_dbowner;
CREATE FUNCTION mq.send(queue_name text, payload text) RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint';
RESET ROLE;
SELECT pg_temp.err($$CREATE EXTENSION mq$$);
REVOKE CREATE ON SCHEMA mq FROM mq_sec_dbowner;
SELECT pg_temp.err($$CREATE EXTENSION mq$$);
DROP FUNCTION mq.send(text, text);
-- Cleaned up, it installs, and nobody but its owner may create in it.
CREATE EXTENSION mq;
SELECT has_schema_privilege('mq_sec_dbowner', 'mq', 'CREATE') AS dbowner_creates,
       has_schema_privilege('mq_sec_dbowner', 'mq', 'USAGE') AS dbowner_uses;
SELECT pg_get_userbyid(nspowner) = current_user AS superuser_owns FROM pg_namespace WHERE nspname = 'mq';
SELECT pg_temp.victim_setup();

-- 4. A dead-letter queue must be one the queue's owner may send to: when
-- it is set (create_queue, alter_queue), and when it is used.
SET ROLE mq_sec_attacker;
SELECT pg_temp.err($$SELECT mq.create_queue('sec_dlq_a', max_deliveries => 1, dead_letter_queue => 'sec_secret')$$);
SELECT mq.create_queue('sec_dlq_a', max_deliveries => 1);
SELECT pg_temp.err($$SELECT mq.alter_queue('sec_dlq_a', dead_letter_queue => 'sec_secret')$$);
SELECT dead_letter_queue FROM mq.queues WHERE queue_name = 'sec_dlq_a';
RESET ROLE;
-- The victim lets the attacker send, the attacker points its queue there,
-- the victim revokes: dead-lettering then archives (with the reason) and
-- sends nothing to the victim's queue.
SET ROLE mq_sec_victim;
SELECT mq.grant('sec_secret', 'send', 'mq_sec_attacker');
RESET ROLE;
SET ROLE mq_sec_attacker;
SELECT mq.alter_queue('sec_dlq_a', dead_letter_queue => 'sec_secret');
SELECT mq.send('sec_dlq_a', '{"poison": true}') AS poison \gset
RESET ROLE;
SET ROLE mq_sec_victim;
SELECT mq.revoke('sec_secret', 'send', 'mq_sec_attacker');
RESET ROLE;
SET ROLE mq_sec_attacker;
SELECT count(*) FROM mq.read('sec_dlq_a');
SET client_min_messages = warning;
SELECT mq.nack('sec_dlq_a', :poison, 'failed once') AS nacked;
RESET client_min_messages;
SELECT id = :poison AS archived_poison, last_error FROM mq.archived('sec_dlq_a');
RESET ROLE;
SELECT count(*) AS in_secret FROM mq.q_sec_secret;
-- And a manager of a queue may not point it at a queue the owner may not
-- send to, even one the manager itself may.
SET ROLE mq_sec_victim;
SELECT mq.create_queue('sec_dlq_b');
SELECT mq.grant('sec_dlq_b', 'manage', 'mq_sec_attacker');
RESET ROLE;
SET ROLE mq_sec_attacker;
SELECT mq.create_queue('sec_attacker_dlq');
SELECT pg_temp.err($$SELECT mq.alter_queue('sec_dlq_b', dead_letter_queue => 'sec_attacker_dlq')$$);
RESET ROLE;

-- 5. A superuser whose search_path puts a writable schema first: no
-- operator or function of it runs, whatever mq does.
CREATE SCHEMA mq_sec_evil;
CREATE TABLE mq_sec_evil.called (what text);
CREATE FUNCTION mq_sec_evil.int_eq(int, int) RETURNS boolean LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO mq_sec_evil.called VALUES ('int ='); RETURN $1 OPERATOR(pg_catalog.=) $2; END$$;
CREATE FUNCTION mq_sec_evil.bigint_eq(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO mq_sec_evil.called VALUES ('bigint ='); RETURN $1 OPERATOR(pg_catalog.=) $2; END$$;
CREATE FUNCTION mq_sec_evil.text_eq(text, text) RETURNS boolean LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO mq_sec_evil.called VALUES ('text ='); RETURN $1 OPERATOR(pg_catalog.=) $2; END$$;
CREATE FUNCTION mq_sec_evil.text_cat(text, text) RETURNS text LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO mq_sec_evil.called VALUES ('text ||'); RETURN $1 OPERATOR(pg_catalog.||) $2; END$$;
CREATE FUNCTION mq_sec_evil.ts_le(timestamptz, timestamptz) RETURNS boolean LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO mq_sec_evil.called VALUES ('timestamptz <='); RETURN $1 OPERATOR(pg_catalog.<=) $2; END$$;
CREATE FUNCTION mq_sec_evil.now() RETURNS timestamptz LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO mq_sec_evil.called VALUES ('now()'); RETURN pg_catalog.now(); END$$;
CREATE FUNCTION mq_sec_evil.random() RETURNS double precision LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO mq_sec_evil.called VALUES ('random()'); RETURN 0.5; END$$;
CREATE OPERATOR mq_sec_evil.= (LEFTARG = int, RIGHTARG = int, FUNCTION = mq_sec_evil.int_eq);
CREATE OPERATOR mq_sec_evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = mq_sec_evil.bigint_eq);
CREATE OPERATOR mq_sec_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = mq_sec_evil.text_eq);
CREATE OPERATOR mq_sec_evil.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = mq_sec_evil.text_cat);
CREATE OPERATOR mq_sec_evil.<= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = mq_sec_evil.ts_le);
GRANT USAGE ON SCHEMA mq_sec_evil TO PUBLIC;
SET search_path = mq_sec_evil, pg_catalog, public;
-- The trap works for ordinary SQL under this path...
SELECT 1 = 1 AS trapped, 'a' || 'b' AS trapped_too;
SELECT what FROM mq_sec_evil.called ORDER BY 1;
DELETE FROM mq_sec_evil.called;
-- ... and catches nothing of mq.
SELECT mq.create_queue('sec_path', max_deliveries => 0, dead_letter_queue => '', retry_delay => '1 second');
SELECT mq.alter_queue('sec_path', max_deliveries => 2, dead_letter_queue => 'sec_secret');
SELECT mq.send('sec_path', '{"a": 1}', dedup_key => 'k') > 0 AS sent;
SELECT count(*) FROM mq.send_batch('sec_path', ARRAY['{"b": 2}', '{"c": 3}']::jsonb[], dedup_keys => ARRAY['k2', NULL]);
SELECT count(*) FROM mq.send_multi(ARRAY['sec_path', 'sec_secret'], '{"d": 4}');
SELECT count(*) FROM mq.read('sec_path', 2, vt => '1 ms');
SELECT pg_sleep(0.01) AS lease_over \gset
SELECT count(*) FROM mq.read('sec_path', 10);
SELECT mq.nack('sec_path', 1, 'e') AND mq.set_vt('sec_path', 2, '0') IS NOT NULL AS nacked;
SELECT mq.archive('sec_path', 3) AND mq.ack('sec_path', ARRAY[4]::bigint[]) = 1 AS archived_acked;
SELECT count(*) FROM mq.archived('sec_path');
SELECT mq.mark_processed('sec_path', 'p') AS marked;
SELECT mq.grant('sec_path', 'send', 'public');
SELECT count(*) > 0 AS listed FROM mq.queues;
SELECT count(*) > 0 AS privileges_listed FROM mq.privileges;
SELECT mq.has_privilege('sec_path', 'send', 'mq_sec_attacker') AS has;
SELECT mq.redrive('sec_secret', 'sec_path', 1) >= 0 AS redrove;
SELECT mq.purge('sec_path') >= 0 AS purged;
SELECT mq.alter_queue('sec_path', dead_letter_queue => '');
SELECT mq.drop_queue('sec_path');
RESET search_path;
SELECT count(*) AS evil_calls FROM mq_sec_evil.called;

-- 6. mq.max_payload_size (1 MB by default) counts what was sent, not what
-- it compresses to: 2 MB of repeated text arriving compressed from a table
-- is refused by every path, and nothing is sent.
SHOW mq.max_payload_size;
CREATE TABLE mq_sec_big (doc jsonb);
INSERT INTO mq_sec_big SELECT jsonb_build_object('blob', repeat('abcd', 512 * 1024));
SELECT pg_column_size(doc) < 100000 AS stored_compressed, octet_length(doc::text) > 2000000 AS two_mb FROM mq_sec_big;
SELECT mq.create_queue('sec_size');
SELECT pg_temp.err($$SELECT mq.send('sec_size', doc) FROM mq_sec_big$$) AS send_payload;
SELECT pg_temp.err($$SELECT mq.send('sec_size', '{}', headers => doc) FROM mq_sec_big$$) AS send_headers;
SELECT pg_temp.err($$SELECT mq.send_multi(ARRAY['sec_size'], doc) FROM mq_sec_big$$) AS multi_payload;
SELECT pg_temp.err($$SELECT mq.send_multi(ARRAY['sec_size'], '{}', headers => doc) FROM mq_sec_big$$) AS multi_headers;
SELECT pg_temp.err($$SELECT mq.send_batch('sec_size', ARRAY[doc]) FROM mq_sec_big$$) AS batch_payload;
SELECT pg_temp.err($$SELECT mq.send_batch('sec_size', ARRAY['{}']::jsonb[], headers => doc) FROM mq_sec_big$$) AS batch_headers;
SELECT count(*) AS sent FROM mq.q_sec_size;
SET mq.max_payload_size = '3MB';
SELECT mq.send('sec_size', doc) > 0 AS sent_under_raised_limit FROM mq_sec_big;
RESET mq.max_payload_size;
-- Only a superuser may lift the limit (for a role: ALTER ROLE ... SET).
SET ROLE mq_sec_attacker;
SELECT pg_temp.err($$SET mq.max_payload_size = '3MB'$$);
RESET ROLE;

-- 7. Dedup keys are reachable only through send, with the send privilege
-- on their queue: a producer of one queue can neither read another
-- queue's keys nor plant one that would swallow its owner's next send.
SELECT mq.grant('sec_size', 'send', 'mq_sec_attacker');
SET ROLE mq_sec_attacker;
SELECT pg_temp.err($$SELECT * FROM mq.dedup$$);
SELECT pg_temp.err($$INSERT INTO mq.dedup VALUES ('sec_secret', 'order-42', 1, 'infinity')$$);
SELECT pg_temp.err($$SELECT mq.send('sec_secret', '{}', dedup_key => 'order-42')$$);
SELECT mq.send('sec_size', '{}', dedup_key => 'order-42') > 0 AS own_queue_key;
RESET ROLE;
SET ROLE mq_sec_victim;
SELECT count(*) AS before FROM mq.read('sec_secret', 100, '1 ms');
SELECT pg_sleep(0.01) AS lease_over \gset
SELECT mq.send('sec_secret', '{"order": 42}', dedup_key => 'order-42') AS victim_id \gset
SELECT count(*) AS victim_message_enqueued FROM mq.read('sec_secret', 100, '1 ms') WHERE id = :victim_id;
SELECT pg_sleep(0.01) AS lease_over \gset
RESET ROLE;

-- A producer cannot forge a dead-letter record (mq.redrive sends a message
-- back to the queue its record names) nor a redrive history: those header
-- keys are mq's.
SET ROLE mq_sec_attacker;
SELECT pg_temp.err($$SELECT mq.send('sec_size', '{}', '{"mq_dead_letter": {"queue": "sec_secret"}}')$$) AS send_forged;
SELECT pg_temp.err($$SELECT mq.send_batch('sec_size', ARRAY['{}']::jsonb[], '{"mq_history": []}')$$) AS batch_forged;
SELECT pg_temp.err($$SELECT mq.send_multi(ARRAY['sec_size'], '{}', '{"a": 1, "mq_dead_letter": {}}')$$) AS multi_forged;
SELECT mq.send('sec_size', '{}', '{"mq_other": 1, "x": {"mq_dead_letter": 1}}') > 0 AS other_keys_fine;
RESET ROLE;

-- DROP EXTENSION by a role that may not drop it fails as PostgreSQL says,
-- and mq's event trigger does nothing for it first (it would lock mq's
-- registry, stalling every call, while the command waits).
SET ROLE mq_sec_attacker;
SELECT pg_temp.err($$DROP EXTENSION mq$$);
RESET ROLE;
SELECT count(*) AS queues_still_there FROM mq.queue;

-- 12. mq.queues never fails because of another queue: a queue whose table
-- is gone or replaced, or that the caller holds no privilege on, is left
-- out of the caller's list or shown without counts.
SELECT mq.create_queue('sec_broken');
DROP TABLE mq.q_sec_broken;
SET ROLE mq_sec_attacker;
SELECT queue_name, depth IS NOT NULL AS counted FROM mq.queues ORDER BY 1;
RESET ROLE;
SELECT queue_name, depth IS NOT NULL AS counted FROM mq.queues ORDER BY 1;

-- Anyone may build a view over a queue table (PostgreSQL checks no
-- privilege for that); it must not keep the queue's owner from dropping
-- the queue, and goes with it.
SET ROLE mq_sec_victim;
SELECT mq.create_queue('sec_pinned');
RESET ROLE;
SET ROLE mq_sec_attacker;
CREATE VIEW mq_sec_att.pin AS SELECT id FROM mq.q_sec_pinned;
RESET ROLE;
SET ROLE mq_sec_victim;
SET client_min_messages = notice;
SELECT mq.drop_queue('sec_pinned');
RESET client_min_messages;
RESET ROLE;

-- LISTEN cannot be restricted: a role with no privilege on a queue can
-- listen to its notification channel (documented); payloads never travel
-- there, only the queue's name.
SELECT mq.alter_queue('sec_secret', notify => true);
SET ROLE mq_sec_attacker;
LISTEN mq_sec_secret;
UNLISTEN *;
RESET ROLE;

SELECT pg_temp.trap_count() AS attacker_is_superuser;
SET client_min_messages = warning;
SELECT mq.drop_queue(q) FROM unnest(ARRAY['sec_broken', 'sec_size', 'sec_dlq_a', 'sec_dlq_b',
       'sec_attacker_dlq', 'sec_secret']) q;
DROP TABLE mq_sec_big;
DROP SCHEMA mq_sec_evil CASCADE;
DROP SCHEMA mq_sec_att CASCADE;
DROP OWNED BY mq_sec_attacker, mq_sec_victim, mq_sec_dbowner;
DROP ROLE mq_sec_attacker, mq_sec_victim, mq_sec_dbowner;
