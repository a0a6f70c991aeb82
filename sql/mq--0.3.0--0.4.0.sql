/* mq--0.3.0--0.4.0.sql: security -- per-queue privileges, mq's objects owned by a superuser */

\echo Use "ALTER EXTENSION mq UPDATE TO '0.4.0'" to load this file. \quit

/*
 * From this version on, every mq function checks the caller's privileges
 * on the queue itself and runs its SQL as the owner of mq's objects (the
 * superuser that installed mq), with a fixed search path; application
 * roles need no privilege on any table of schema mq.  This script refuses
 * a schema mq that a non-superuser owns or that holds objects that are
 * not mq's, then converts the queues that exist: each keeps working, its
 * creator becomes its owner, what roles could do through table privileges
 * becomes mq privileges, and the tables pass to the owner of mq's objects.
 *
 * Every name below is schema-qualified and every operator spelled
 * OPERATOR(pg_catalog.x): the script runs with schema mq first in its
 * search path, and mq is the schema being checked.
 */

-- 1. The schema: a superuser's, nobody else may create in it, and nothing
-- in it that is not mq's.  An object that a role created while it still
-- could, in a transaction that is still open, is invisible here: so first
-- make sure no other role may create there any more (that must have been
-- revoked and committed before), then wait for every transaction older
-- than this one to end, then look.
CREATE FUNCTION mq._wait_for_older_transactions()
RETURNS void
AS 'MODULE_PATHNAME', 'mq_wait_for_older_transactions'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq._wait_for_older_transactions() IS 'internal: wait until the transactions running now have ended (superusers)';
REVOKE ALL ON FUNCTION mq._wait_for_older_transactions() FROM PUBLIC;

DO $check$
DECLARE
    nsp oid;
    owner_name text;
    owner_super boolean;
    creators text;
    foreign_objects text;
BEGIN
    SELECT n.oid, r.rolname, r.rolsuper INTO nsp, owner_name, owner_super
      FROM pg_catalog.pg_namespace n
      JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
     WHERE n.nspname OPERATOR(pg_catalog.=) 'mq';
    IF NOT owner_super THEN
        RAISE EXCEPTION 'schema "mq" is owned by role "%", not by a superuser', owner_name
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Its owner could drop or replace anything mq keeps in it.',
                  HINT = 'Check what the schema holds, make a superuser its owner (ALTER SCHEMA mq OWNER TO ...) or drop it, and try again.';
    END IF;

    SELECT pg_catalog.string_agg(DISTINCT CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                                               ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END, ', ')
      INTO creators
      FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
     WHERE n.oid OPERATOR(pg_catalog.=) nsp
       AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
       AND a.grantee OPERATOR(pg_catalog.<>) n.nspowner
       AND (a.grantee OPERATOR(pg_catalog.=) 0
            OR NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) a.grantee));
    IF creators IS NOT NULL THEN
        RAISE EXCEPTION 'roles that are not superusers may create objects in schema "mq"'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'CREATE on schema mq is granted to: ' OPERATOR(pg_catalog.||) creators OPERATOR(pg_catalog.||) '.',
                  HINT = 'Revoke it first, in a transaction of its own (REVOKE CREATE ON SCHEMA mq FROM ...), then try again: mq grants the right to create queues by itself.';
    END IF;
    IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) 'read committed' THEN
        RAISE EXCEPTION 'mq must be installed or updated in a READ COMMITTED transaction'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'It must see what transactions that commit while it waits for them created.';
    END IF;
    PERFORM mq._wait_for_older_transactions();

    -- mq's own: extension members, and the tables of registered queues
    -- (with their indexes, id sequences and row types).  A relation of
    -- another kind named like a queue's table is not mq's.
    WITH member AS (
        SELECT d.classid, d.objid FROM pg_catalog.pg_depend d
         WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
           AND d.refobjid OPERATOR(pg_catalog.=) (SELECT e.oid FROM pg_catalog.pg_extension e
                                                  WHERE e.extname OPERATOR(pg_catalog.=) 'mq')
           AND d.deptype OPERATOR(pg_catalog.=) 'e'),
    ours_table AS (
        SELECT c.oid FROM pg_catalog.pg_class c, mq.queue q
         WHERE c.relnamespace OPERATOR(pg_catalog.=) nsp
           AND c.relkind OPERATOR(pg_catalog.=) 'r'
           AND c.relname OPERATOR(pg_catalog.=) ANY (ARRAY['q_' OPERATOR(pg_catalog.||) q.queue_name,
                                                           'a_' OPERATOR(pg_catalog.||) q.queue_name])
        UNION SELECT objid FROM member
               WHERE classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
        UNION SELECT c.oid FROM pg_catalog.pg_class c
               WHERE c.reltype IN (SELECT objid FROM member
                                    WHERE classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass)),
    ours AS (
        SELECT oid FROM ours_table
        UNION SELECT i.indexrelid FROM pg_catalog.pg_index i WHERE i.indrelid IN (SELECT oid FROM ours_table)
        UNION SELECT d.objid FROM pg_catalog.pg_depend d
               WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                 AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                 AND d.refobjid IN (SELECT oid FROM ours_table)
                 AND d.deptype OPERATOR(pg_catalog.=) ANY (ARRAY['a', 'i']::pg_catalog."char"[])),
    foreign_object AS (
        SELECT 'relation mq.' OPERATOR(pg_catalog.||) c.relname AS what
          FROM pg_catalog.pg_class c
         WHERE c.relnamespace OPERATOR(pg_catalog.=) nsp AND c.oid NOT IN (SELECT oid FROM ours)
        UNION ALL
        SELECT 'function mq.' OPERATOR(pg_catalog.||) p.proname OPERATOR(pg_catalog.||) '('
               OPERATOR(pg_catalog.||) pg_catalog.pg_get_function_identity_arguments(p.oid) OPERATOR(pg_catalog.||) ')'
          FROM pg_catalog.pg_proc p
         WHERE p.pronamespace OPERATOR(pg_catalog.=) nsp
           AND p.oid NOT IN (SELECT objid FROM member
                              WHERE classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass)
        UNION ALL
        SELECT 'type mq.' OPERATOR(pg_catalog.||) t.typname
          FROM pg_catalog.pg_type t
         WHERE t.typnamespace OPERATOR(pg_catalog.=) nsp
           AND t.oid NOT IN (SELECT objid FROM member
                              WHERE classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass)
           -- a relation's row type (and its array) is listed as the relation
           AND t.typrelid OPERATOR(pg_catalog.=) 0
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type e
                            WHERE e.oid OPERATOR(pg_catalog.=) t.typelem
                              AND (e.typrelid OPERATOR(pg_catalog.<>) 0
                                   OR e.oid IN (SELECT objid FROM member)))
        UNION ALL
        SELECT 'operator mq.' OPERATOR(pg_catalog.||) o.oprname FROM pg_catalog.pg_operator o
         WHERE o.oprnamespace OPERATOR(pg_catalog.=) nsp
        UNION ALL
        SELECT 'collation mq.' OPERATOR(pg_catalog.||) l.collname FROM pg_catalog.pg_collation l
         WHERE l.collnamespace OPERATOR(pg_catalog.=) nsp
        UNION ALL
        SELECT 'conversion mq.' OPERATOR(pg_catalog.||) v.conname FROM pg_catalog.pg_conversion v
         WHERE v.connamespace OPERATOR(pg_catalog.=) nsp
        UNION ALL
        SELECT 'operator family mq.' OPERATOR(pg_catalog.||) f.opfname FROM pg_catalog.pg_opfamily f
         WHERE f.opfnamespace OPERATOR(pg_catalog.=) nsp
        UNION ALL
        SELECT 'text search configuration mq.' OPERATOR(pg_catalog.||) s.cfgname FROM pg_catalog.pg_ts_config s
         WHERE s.cfgnamespace OPERATOR(pg_catalog.=) nsp
        UNION ALL
        SELECT 'text search dictionary mq.' OPERATOR(pg_catalog.||) s.dictname FROM pg_catalog.pg_ts_dict s
         WHERE s.dictnamespace OPERATOR(pg_catalog.=) nsp
        UNION ALL
        SELECT 'statistics object mq.' OPERATOR(pg_catalog.||) s.stxname FROM pg_catalog.pg_statistic_ext s
         WHERE s.stxnamespace OPERATOR(pg_catalog.=) nsp)
    SELECT pg_catalog.string_agg(what, ', ' ORDER BY what) INTO foreign_objects FROM foreign_object;
    IF foreign_objects IS NOT NULL THEN
        RAISE EXCEPTION 'schema "mq" holds objects that are not mq''s'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Found: ' OPERATOR(pg_catalog.||) foreign_objects OPERATOR(pg_catalog.||) '.',
                  HINT = 'Move or drop them (functions and operators there would be found by calls to mq), then try again.';
    END IF;
END
$check$;

-- 2. Owners and grants.
ALTER TABLE mq.queue ADD COLUMN owner pg_catalog.regrole;
UPDATE mq.queue q SET owner = COALESCE(
    (SELECT c.relowner FROM pg_catalog.pg_class c
      WHERE c.relnamespace OPERATOR(pg_catalog.=) 'mq'::pg_catalog.regnamespace
        AND c.relname OPERATOR(pg_catalog.=) ('q_' OPERATOR(pg_catalog.||) q.queue_name)),
    (SELECT c.relowner FROM pg_catalog.pg_class c
      WHERE c.oid OPERATOR(pg_catalog.=) 'mq.queue'::pg_catalog.regclass))::pg_catalog.regrole;
ALTER TABLE mq.queue ALTER COLUMN owner SET NOT NULL;
COMMENT ON COLUMN mq.queue.owner IS 'the role that created the queue: it holds every privilege on it';

CREATE TABLE mq.privilege (
    queue_name  text                NOT NULL,
    grantee     pg_catalog.regrole  NOT NULL,
    privilege   text                NOT NULL
                CHECK (privilege OPERATOR(pg_catalog.=) ANY (ARRAY['send', 'consume', 'manage', 'create'])),
    PRIMARY KEY (queue_name, grantee, privilege),
    CHECK ((privilege OPERATOR(pg_catalog.=) 'create') OPERATOR(pg_catalog.=) (queue_name OPERATOR(pg_catalog.=) ''))
);
SELECT pg_catalog.pg_extension_config_dump('mq.privilege', '');
COMMENT ON TABLE mq.privilege IS 'mq privileges: send, consume, manage on a queue, or create (queue_name ''''); grantee - is PUBLIC';

-- What roles could do through table privileges becomes mq privileges:
-- INSERT on a queue table (send), UPDATE on it (read, nack: consume),
-- UPDATE on the registry (alter_queue: manage every queue), INSERT on the
-- registry (create_queue, with CREATE on the schema, revoked before the
-- update: create).
INSERT INTO mq.privilege (queue_name, grantee, privilege)
SELECT DISTINCT q.queue_name, a.grantee::pg_catalog.regrole,
       CASE a.privilege_type WHEN 'INSERT' THEN 'send' ELSE 'consume' END
  FROM mq.queue q
  JOIN pg_catalog.pg_class c
    ON c.relnamespace OPERATOR(pg_catalog.=) 'mq'::pg_catalog.regnamespace
   AND c.relname OPERATOR(pg_catalog.=) ('q_' OPERATOR(pg_catalog.||) q.queue_name),
       pg_catalog.aclexplode(c.relacl) a
 WHERE a.privilege_type OPERATOR(pg_catalog.=) ANY (ARRAY['INSERT', 'UPDATE'])
   AND a.grantee OPERATOR(pg_catalog.<>) c.relowner
ON CONFLICT DO NOTHING;
INSERT INTO mq.privilege (queue_name, grantee, privilege)
SELECT DISTINCT q.queue_name, a.grantee::pg_catalog.regrole, 'manage'
  FROM mq.queue q, pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
 WHERE c.oid OPERATOR(pg_catalog.=) 'mq.queue'::pg_catalog.regclass
   AND a.privilege_type OPERATOR(pg_catalog.=) 'UPDATE'
   AND a.grantee OPERATOR(pg_catalog.<>) c.relowner
ON CONFLICT DO NOTHING;
INSERT INTO mq.privilege (queue_name, grantee, privilege)
SELECT DISTINCT '', a.grantee::pg_catalog.regrole, 'create'
  FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
 WHERE c.oid OPERATOR(pg_catalog.=) 'mq.queue'::pg_catalog.regclass
   AND a.privilege_type OPERATOR(pg_catalog.=) 'INSERT'
   AND a.grantee OPERATOR(pg_catalog.<>) c.relowner
ON CONFLICT DO NOTHING;

-- Nobody but the owner creates in schema mq; everyone may look up its
-- functions (each checks its caller itself).
DO $schema$
DECLARE
    g record;
BEGIN
    FOR g IN SELECT DISTINCT a.grantee
               FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
              WHERE n.nspname OPERATOR(pg_catalog.=) 'mq'
                AND a.grantee OPERATOR(pg_catalog.<>) n.nspowner LOOP
        IF g.grantee OPERATOR(pg_catalog.=) 0 THEN
            REVOKE ALL ON SCHEMA mq FROM PUBLIC;
        ELSE
            EXECUTE pg_catalog.format('REVOKE ALL ON SCHEMA mq FROM %I',
                                      pg_catalog.pg_get_userbyid(g.grantee));
        END IF;
    END LOOP;
END
$schema$;
GRANT USAGE ON SCHEMA mq TO PUBLIC;

-- 3. Every queue whose tables are as mq made them passes to the owner of
-- mq's objects (tables and id sequences), with no privilege of anyone else
-- left on them: mq._adopt_queue locks both tables ACCESS EXCLUSIVE, looks,
-- and hands them over under that lock, so nothing can be attached in
-- between.  A queue whose tables are not as mq made them (a trigger, an
-- index, extended statistics, a publication row filter...) keeps them as
-- they are, owned by their creator, and is refused by mq until a superuser
-- fixes it: handing such a table to a superuser would let what someone
-- attached to it run as that superuser (ANALYZE, decoding).  Then no other
-- role keeps a privilege on any relation of mq or any of its columns.
CREATE FUNCTION mq._queue_problems(check_owner boolean DEFAULT true,
                                   OUT queue_name text, OUT problem text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'mq_queue_problems'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq._queue_problems(boolean) IS 'diagnostics: queues whose tables are not as mq made them, and why (superusers)';
REVOKE ALL ON FUNCTION mq._queue_problems(boolean) FROM PUBLIC;

CREATE FUNCTION mq._adopt_queue(queue_name text)
RETURNS text
AS 'MODULE_PATHNAME', 'mq_adopt_queue'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq._adopt_queue(text) IS 'give a queue''s tables, if as mq made them, to the owner of mq''s objects; NULL, or what is wrong (superusers)';
REVOKE ALL ON FUNCTION mq._adopt_queue(text) FROM PUBLIC;

DO $tables$
DECLARE
    r record;
    g record;
    problem text;
BEGIN
    FOR r IN SELECT q.queue_name FROM mq.queue q ORDER BY 1 LOOP
        problem := mq._adopt_queue(r.queue_name);
        IF problem IS NOT NULL THEN
            RAISE WARNING 'queue "%" keeps its tables as they are, and mq refuses it until they are fixed', r.queue_name
                USING DETAIL = problem,
                      HINT = pg_catalog.format('A superuser can undo the change, then run SELECT mq._adopt_queue(%L), or drop the queue with mq.drop_queue.',
                                               r.queue_name);
        END IF;
    END LOOP;
    FOR r IN SELECT c.oid, c.relname,
                    CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS kind
               FROM pg_catalog.pg_class c
              WHERE c.relnamespace OPERATOR(pg_catalog.=) 'mq'::pg_catalog.regnamespace
                AND c.relkind OPERATOR(pg_catalog.<>) 'i'
                AND (c.relacl IS NOT NULL
                     OR EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                                 WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid AND a.attacl IS NOT NULL)) LOOP
        -- REVOKE ALL on a relation takes its column privileges along.
        FOR g IN SELECT DISTINCT x.grantee
                   FROM (SELECT (pg_catalog.aclexplode(c.relacl)).grantee FROM pg_catalog.pg_class c
                          WHERE c.oid OPERATOR(pg_catalog.=) r.oid
                         UNION ALL
                         SELECT (pg_catalog.aclexplode(a.attacl)).grantee FROM pg_catalog.pg_attribute a
                          WHERE a.attrelid OPERATOR(pg_catalog.=) r.oid AND a.attacl IS NOT NULL) x,
                        pg_catalog.pg_class c
                  WHERE c.oid OPERATOR(pg_catalog.=) r.oid
                    AND x.grantee OPERATOR(pg_catalog.<>) c.relowner LOOP
            EXECUTE pg_catalog.format('REVOKE ALL ON %s mq.%I FROM %s', r.kind, r.relname,
                                      CASE WHEN g.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                                           ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(g.grantee)) END);
        END LOOP;
    END LOOP;
END
$tables$;

-- 4. Processed keys are kept per queue, for the roles that consume it.
ALTER TABLE mq.processed RENAME COLUMN consumer TO queue_name;
COMMENT ON TABLE mq.processed IS 'mq.mark_processed: keys the consumers of each queue have processed, until expires_at';
DROP FUNCTION mq.mark_processed(text, text, interval);
CREATE FUNCTION mq.mark_processed(queue_name text, key text, keep interval DEFAULT '7 days')
RETURNS boolean
AS 'MODULE_PATHNAME', 'mq_mark_processed'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.mark_processed(text, text, interval) IS 'record that the consumers of a queue processed key; true the first time (within keep), false after (consume privilege)';

-- 5. mq.read returns its columns as a table (no composite type to look up
-- at run time, which a concurrent DROP EXTENSION could take away).
DROP FUNCTION mq.read(text, integer, interval, interval, integer);
CREATE FUNCTION mq.read(
    queue_name text,
    qty integer DEFAULT 1,
    vt interval DEFAULT NULL,
    wait interval DEFAULT NULL,
    consumer_priority integer DEFAULT 0)
RETURNS TABLE (
    id          bigint,
    payload     jsonb,
    headers     jsonb,
    enqueued_at timestamptz,
    vt          timestamptz,
    deliveries  integer,
    last_error  text)
AS 'MODULE_PATHNAME', 'mq_read'
LANGUAGE C VOLATILE ROWS 10;
COMMENT ON FUNCTION mq.read(text, integer, interval, interval, integer) IS 'lease up to qty visible messages, oldest first; with wait, sleep until one arrives or wait elapses (consume privilege)';

-- 6. Granting and revoking.
CREATE FUNCTION mq.grant(queue_name text, privileges text, role_name text)
RETURNS void
AS 'MODULE_PATHNAME', 'mq_grant'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.grant(text, text, text) IS 'grant send, consume, manage (a comma-separated list, or all) on a queue to a role or PUBLIC (manage privilege)';

CREATE FUNCTION mq.revoke(queue_name text, privileges text, role_name text)
RETURNS void
AS 'MODULE_PATHNAME', 'mq_revoke'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.revoke(text, text, text) IS 'revoke privileges on a queue from a role or PUBLIC (manage privilege)';

CREATE FUNCTION mq.grant_create(role_name text)
RETURNS void
AS 'MODULE_PATHNAME', 'mq_grant_create'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.grant_create(text) IS 'let a role (or PUBLIC) create queues in this database (superusers only)';

CREATE FUNCTION mq.revoke_create(role_name text)
RETURNS void
AS 'MODULE_PATHNAME', 'mq_revoke_create'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.revoke_create(text) IS 'take back the right to create queues (superusers only)';

CREATE FUNCTION mq.has_privilege(queue_name text, privilege text, role_name text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'mq_has_privilege'
LANGUAGE C STABLE;
COMMENT ON FUNCTION mq.has_privilege(text, text, text) IS 'does a role (NULL: the current one) hold send, consume or manage on a queue, or create (queue_name NULL)';

CREATE FUNCTION mq.set_owner(queue_name text, role_name text)
RETURNS void
AS 'MODULE_PATHNAME', 'mq_set_owner'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.set_owner(text, text) IS 'give a queue to another role (its owner or a superuser)';

CREATE FUNCTION mq._privileges(OUT queue_name text, OUT grantee text, OUT privilege text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'mq_privileges_list'
LANGUAGE C STABLE;
COMMENT ON FUNCTION mq._privileges() IS 'internal: the rows of mq.privileges';

CREATE VIEW mq.privileges AS
    SELECT queue_name, grantee, privilege FROM mq._privileges();
COMMENT ON VIEW mq.privileges IS 'owners and grants of the queues the caller may manage, and who may create queues';

-- 7. mq.queues gains the owner, and shows the queues the caller holds a
-- privilege on.
DROP VIEW mq.queues;
DROP FUNCTION mq._queue_stats();
CREATE FUNCTION mq._queue_stats(
    OUT queue_name text,
    OUT created_at timestamptz,
    OUT visibility_timeout interval,
    OUT unlogged boolean,
    OUT depth bigint,
    OUT in_flight bigint,
    OUT delayed bigint,
    OUT archived bigint,
    OUT oldest_age interval,
    OUT total_bytes bigint,
    OUT archive_bytes bigint,
    OUT notify boolean,
    OUT waiting integer,
    OUT max_deliveries integer,
    OUT dead_letter_queue text,
    OUT failing bigint,
    OUT nacks bigint,
    OUT lease_expiries bigint,
    OUT dead_letters bigint,
    OUT owner name)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'mq_queue_stats'
LANGUAGE C STABLE;
COMMENT ON FUNCTION mq._queue_stats() IS 'internal: the rows of mq.queues';

CREATE VIEW mq.queues AS
    SELECT queue_name, created_at, visibility_timeout, unlogged,
           depth, in_flight, delayed, archived, oldest_age,
           total_bytes, archive_bytes, notify, waiting,
           max_deliveries, dead_letter_queue, failing,
           nacks, lease_expiries, dead_letters, owner
    FROM mq._queue_stats();
COMMENT ON VIEW mq.queues IS 'one row per queue the caller holds a privilege on: options, depth, in-flight, delayed, archived, oldest age, size, notify, consumers waiting, failing messages, failure counters, owner';

-- 8. What everyone may use; the rest stays the owner's.
GRANT SELECT ON mq.queues, mq.privileges TO PUBLIC;
REVOKE ALL ON FUNCTION mq._start_worker() FROM PUBLIC;
