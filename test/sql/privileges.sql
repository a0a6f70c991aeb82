-- The privilege matrix: every mq function called by a superuser, by the
-- queue's owner, and by roles holding no privilege, send, consume, manage
-- or the right to create queues.  Each cell is "ok" or the SQLSTATE of
-- the refusal; a refused call must change nothing (the queue's messages,
-- archive, options, grants, dedup and processed keys, and the other
-- queues are compared before and after: "CHANGED" would show).
\i test/sql/setup.inc
SET client_min_messages = warning;

CREATE ROLE mq_mx_owner;
CREATE ROLE mq_mx_none;
CREATE ROLE mq_mx_send;
CREATE ROLE mq_mx_consume;
CREATE ROLE mq_mx_manage;
CREATE ROLE mq_mx_create;
SELECT mq.grant_create('mq_mx_owner');
SELECT mq.grant_create('mq_mx_create');
-- Queues every role may use, so that only the privileges on mx decide.
SELECT mq.create_queue('mx_other');
SELECT mq.grant('mx_other', 'all', 'public');

-- A fresh queue mx owned by mq_mx_owner, each privilege granted to its
-- role, three messages (1 leased, 2 and 3 visible), one archived (4), and
-- a dedup key and a processed key.
CREATE FUNCTION pg_temp.fixture() RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
  PERFORM mq.drop_queue('mx', if_exists => true);
  PERFORM mq.drop_queue('mx_new', if_exists => true);
  PERFORM mq.revoke_create(r.rolname) FROM pg_roles r WHERE r.rolname LIKE 'mq\_mx\_%';
  PERFORM mq.grant_create('mq_mx_owner');
  PERFORM mq.grant_create('mq_mx_create');
  SET LOCAL ROLE mq_mx_owner;
  PERFORM mq.create_queue('mx');
  PERFORM mq.grant('mx', 'send', 'mq_mx_send');
  PERFORM mq.grant('mx', 'consume', 'mq_mx_consume');
  PERFORM mq.grant('mx', 'manage', 'mq_mx_manage');
  PERFORM mq.send('mx', '{"n": 1}', dedup_key => 'k1');
  PERFORM mq.send('mx', '{"n": 2}');
  PERFORM mq.send('mx', '{"n": 3}');
  PERFORM mq.send('mx', '{"n": 4}');
  PERFORM mq.read('mx', 1);
  PERFORM mq.archive('mx', 4);
  PERFORM mq.mark_processed('mx', 'p1');
  RESET ROLE;
END $f$;

-- Everything a call could change, as text.
CREATE FUNCTION pg_temp.fingerprint() RETURNS text LANGUAGE plpgsql AS $f$
BEGIN
  RETURN concat_ws(' | ',
    (SELECT string_agg(concat_ws(',', id, vt, deliveries, leased, last_error, failures), ';' ORDER BY id) FROM mq.q_mx),
    (SELECT string_agg(id::text, ',' ORDER BY id) FROM mq.a_mx),
    (SELECT row(q.*)::text FROM mq.queue q WHERE queue_name = 'mx'),
    (SELECT string_agg(concat_ws(',', queue_name, grantee, privilege), ';' ORDER BY 1) FROM mq.privilege),
    (SELECT string_agg(concat_ws(',', queue_name, dedup_key, id), ';' ORDER BY 1) FROM mq.dedup),
    (SELECT string_agg(concat_ws(',', queue_name, key), ';' ORDER BY 1) FROM mq.processed),
    (SELECT count(*) FROM mq.q_mx_other),
    (SELECT string_agg(queue_name, ',' ORDER BY 1) FROM mq.queue));
END $f$;

-- One cell: run sql as role r on a fresh fixture.
CREATE FUNCTION pg_temp.cell(r text, sql text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
  before text;
  result text;
BEGIN
  PERFORM pg_temp.fixture();
  before := pg_temp.fingerprint();
  IF r <> 'superuser' THEN
    EXECUTE format('SET LOCAL ROLE %I', r);
  END IF;
  BEGIN
    EXECUTE sql;
    result := 'ok';
  EXCEPTION WHEN others THEN
    result := SQLSTATE;
  END;
  RESET ROLE;
  IF result <> 'ok' AND pg_temp.fingerprint() IS DISTINCT FROM before THEN
    result := result || ' CHANGED';
  END IF;
  RETURN result;
END $f$;

CREATE TEMP TABLE calls (n int, fn text, sql text);
INSERT INTO calls VALUES
  (1,  'create_queue',   $$SELECT mq.create_queue('mx_new')$$),
  (2,  'alter_queue',    $$SELECT mq.alter_queue('mx', visibility_timeout => '1 minute')$$),
  (3,  'drop_queue',     $$SELECT mq.drop_queue('mx')$$),
  (4,  'purge',          $$SELECT mq.purge('mx')$$),
  (5,  'send',           $$SELECT mq.send('mx', '{}')$$),
  (6,  'send dedup',     $$SELECT mq.send('mx', '{}', dedup_key => 'k2')$$),
  (7,  'send_batch',     $$SELECT mq.send_batch('mx', ARRAY['{}']::jsonb[])$$),
  (8,  'send_multi',     $$SELECT mq.send_multi(ARRAY['mx_other', 'mx'], '{}')$$),
  (9,  'read',           $$SELECT mq.read('mx', 1)$$),
  (10, 'ack',            $$SELECT mq.ack('mx', 2)$$),
  (11, 'ack many',       $$SELECT mq.ack('mx', ARRAY[2, 3]::bigint[])$$),
  (12, 'nack',           $$SELECT mq.nack('mx', 1, 'e')$$),
  (13, 'archive',        $$SELECT mq.archive('mx', 2)$$),
  (14, 'archive many',   $$SELECT mq.archive('mx', ARRAY[2, 3]::bigint[])$$),
  (15, 'archived',       $$SELECT mq.archived('mx')$$),
  (16, 'set_vt',         $$SELECT mq.set_vt('mx', 1, '0')$$),
  (17, 'mark_processed', $$SELECT mq.mark_processed('mx', 'p2')$$),
  (18, 'redrive',        $$SELECT mq.redrive('mx', 'mx_other')$$),
  (19, 'grant',          $$SELECT mq.grant('mx', 'send', 'mq_mx_none')$$),
  (20, 'revoke',         $$SELECT mq.revoke('mx', 'send', 'mq_mx_send')$$),
  (21, 'set_owner',      $$SELECT mq.set_owner('mx', 'mq_mx_owner')$$),
  (22, 'grant_create',   $$SELECT mq.grant_create('mq_mx_none')$$),
  (23, 'revoke_create',  $$SELECT mq.revoke_create('mq_mx_create')$$),
  (24, 'has_privilege',  $$SELECT mq.has_privilege('mx', 'send')$$),
  (25, 'queues lists mx', $q$DO $d$ BEGIN IF NOT EXISTS (SELECT FROM mq.queues WHERE queue_name = 'mx') THEN RAISE EXCEPTION USING ERRCODE = '02000'; END IF; END $d$$q$),
  (26, 'privileges of mx', $q$DO $d$ BEGIN IF NOT EXISTS (SELECT FROM mq.privileges WHERE queue_name = 'mx') THEN RAISE EXCEPTION USING ERRCODE = '02000'; END IF; END $d$$q$),
  (27, 'peek',           $$SELECT mq.peek('mx')$$),
  (28, 'pop',            $$SELECT mq.pop('mx')$$),
  (29, 'nack many',      $$SELECT mq.nack('mx', ARRAY[1, 2]::bigint[], 'e')$$),
  (30, 'set_vt many',    $$SELECT mq.set_vt('mx', ARRAY[1, 2]::bigint[], '1 hour')$$),
  (31, 'ack text',       $$SELECT mq.ack('mx', '{2,3}'::text)$$),
  (32, 'archive text',   $$SELECT mq.archive('mx', '2'::text)$$),
  (33, 'nack text',      $$SELECT mq.nack('mx', '1'::text, 'e')$$),
  (34, 'set_vt text',    $$SELECT mq.set_vt('mx', '1'::text, '0')$$);

SELECT fn AS "function",
       pg_temp.cell('superuser', sql) AS superuser,
       pg_temp.cell('mq_mx_owner', sql) AS owner,
       pg_temp.cell('mq_mx_none', sql) AS "none",
       pg_temp.cell('mq_mx_send', sql) AS send,
       pg_temp.cell('mq_mx_consume', sql) AS consume,
       pg_temp.cell('mq_mx_manage', sql) AS manage,
       pg_temp.cell('mq_mx_create', sql) AS "create"
  FROM calls ORDER BY n;

-- Privileges follow role membership (with INHERIT), and PUBLIC.
SELECT pg_temp.fixture();
CREATE ROLE mq_mx_team;
CREATE ROLE mq_mx_member IN ROLE mq_mx_team;
CREATE ROLE mq_mx_noinherit NOINHERIT IN ROLE mq_mx_team;
SELECT mq.grant('mx', 'consume', 'mq_mx_team');
SELECT r, mq.has_privilege('mx', 'consume', r) AS consume, mq.has_privilege('mx', 'send', r) AS send
  FROM unnest(ARRAY['mq_mx_team', 'mq_mx_member', 'mq_mx_noinherit', 'mq_mx_none']) r;
SET ROLE mq_mx_noinherit;
SELECT pg_temp.err($$SELECT mq.read('mx')$$) AS noinherit_reads;
SET ROLE mq_mx_team;
SELECT count(*) AS after_set_role_reads FROM mq.read('mx');
RESET ROLE;
SELECT mq.grant('mx', 'send', 'public');
SELECT mq.has_privilege('mx', 'send', 'mq_mx_none') AS public_send;
-- A grant or revoke takes effect at the next call, also in the same session.
SET ROLE mq_mx_member;
SELECT mq.send('mx', '{"member": 1}') > 0 AS member_sends;
RESET ROLE;
SELECT mq.revoke('mx', 'send', 'public');
SET ROLE mq_mx_member;
SELECT pg_temp.err($$SELECT mq.send('mx', '{"member": 2}')$$) AS after_revoke;
RESET ROLE;
REVOKE mq_mx_team FROM mq_mx_member;
SET ROLE mq_mx_member;
SELECT pg_temp.err($$SELECT mq.read('mx')$$) AS after_membership_revoked;
RESET ROLE;

-- Bad arguments: 22023 / 42704 / 22004, and nothing granted.
SELECT pg_temp.err($$SELECT mq.grant('mx', 'write', 'mq_mx_none')$$);
SELECT pg_temp.err($$SELECT mq.grant('mx', '', 'mq_mx_none')$$);
SELECT pg_temp.err($$SELECT mq.grant('mx', 'send', 'mq_no_such_role')$$);
SELECT pg_temp.err($$SELECT mq.grant('mx', NULL, 'mq_mx_none')$$);
SELECT pg_temp.err($$SELECT mq.grant('mx', 'send', NULL)$$);
SELECT pg_temp.err($$SELECT mq.grant('no_such_queue', 'send', 'mq_mx_none')$$);
SELECT pg_temp.err($$SELECT mq.has_privilege('mx', 'create')$$);
SELECT pg_temp.err($$SELECT mq.has_privilege('mx', 'send', 'public')$$);
SELECT pg_temp.err($$SELECT mq.set_owner('mx', 'public')$$);
SELECT mq.has_privilege(NULL, 'create', 'mq_mx_create') AS creator_may_create,
       mq.has_privilege(NULL, 'create', 'mq_mx_none') AS none_may_create;
SELECT count(*) AS grants_to_none FROM mq.privilege WHERE grantee = 'mq_mx_none'::regrole;
-- Lists and spellings: 'send, consume' and ALL, any case.
SELECT mq.grant('mx', ' Send , CONSUME ', 'mq_mx_none');
SELECT privilege FROM mq.privileges WHERE queue_name = 'mx' AND grantee = 'mq_mx_none' ORDER BY 1;
SELECT mq.revoke('mx', 'all', 'mq_mx_none');
SELECT count(*) AS left_after_revoke_all FROM mq.privileges WHERE grantee = 'mq_mx_none';

-- set_owner: the new owner holds everything; the old one only what was granted.
SELECT mq.set_owner('mx', 'mq_mx_create');
SELECT owner FROM mq.queues WHERE queue_name = 'mx';
SELECT mq.has_privilege('mx', 'manage', 'mq_mx_create') AS new_owner_manages,
       mq.has_privilege('mx', 'manage', 'mq_mx_owner') AS old_owner_manages;
-- A non-superuser may give away only what it owns, to a role it belongs to
-- that may create queues.
SET ROLE mq_mx_manage;
SELECT pg_temp.err($$SELECT mq.set_owner('mx', 'mq_mx_manage')$$) AS manager_takes;
RESET ROLE;
GRANT mq_mx_manage TO mq_mx_create;
SET ROLE mq_mx_create;
SELECT pg_temp.err($$SELECT mq.set_owner('mx', 'mq_mx_manage')$$) AS to_role_without_create;
RESET ROLE;
SELECT mq.grant_create('mq_mx_manage');
SET ROLE mq_mx_create;
SELECT mq.set_owner('mx', 'mq_mx_manage');
RESET ROLE;
SELECT owner FROM mq.queues WHERE queue_name = 'mx';

-- Dropping a queue takes its grants along.
SELECT mq.drop_queue('mx');
SELECT mq.drop_queue('mx_other');
SELECT count(*) AS grants_left FROM mq.privilege WHERE queue_name <> '';
SELECT mq.revoke_create('mq_mx_owner');
SELECT mq.revoke_create('mq_mx_create');
SELECT mq.revoke_create('mq_mx_manage');
DROP ROLE mq_mx_owner, mq_mx_none, mq_mx_send, mq_mx_consume, mq_mx_manage, mq_mx_create,
          mq_mx_team, mq_mx_member, mq_mx_noinherit;
