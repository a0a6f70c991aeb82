/* mq--0.4.0--0.5.0.sql: what real consumers hit first -- rolled-back deliveries count, browsing and popping, id arrays, untyped drivers; partitioned queues; message priority, FIFO groups and filtered reads; observability: lifecycle tracing, metrics, alerts */

\echo Use "ALTER EXTENSION mq UPDATE TO '0.5.0'" to load this file. \quit

/*
 * Every name below is schema-qualified: the script runs with schema mq
 * first in its search path.  Queue tables gain priority and group_id
 * (section 5); messages stored by earlier versions (headers that are not
 * objects included) keep working, with priority 0 and no group.
 */

-- 0. Partitioned queues: a queue of N partitions has N message tables,
-- mq.q_<name> and mq.q<k>_<name> for k = 1 .. N - 1.
ALTER TABLE mq.queue ADD COLUMN partitions integer NOT NULL DEFAULT 1
    CONSTRAINT queue_partitions_check CHECK (partitions OPERATOR(pg_catalog.>=) 1
                                             AND partitions OPERATOR(pg_catalog.<=) 64);

-- Lifecycle tracing: a queue with history records every event of its
-- messages in mq.h_<name> (made by create_queue or alter_queue), kept for
-- history_retention.
ALTER TABLE mq.queue ADD COLUMN history boolean NOT NULL DEFAULT false,
    ADD COLUMN history_retention interval NOT NULL DEFAULT '7 days'
    CONSTRAINT queue_history_retention_check CHECK (history_retention OPERATOR(pg_catalog.>) '0'::pg_catalog.interval);

DROP FUNCTION mq.create_queue(text, interval, boolean, boolean, interval, interval, interval, integer, text);
CREATE FUNCTION mq.create_queue(
    queue_name text,
    visibility_timeout interval DEFAULT '30 seconds',
    unlogged boolean DEFAULT false,
    notify boolean DEFAULT false,
    dedup_window interval DEFAULT '5 minutes',
    retry_delay interval DEFAULT '0',
    retry_delay_max interval DEFAULT '1 hour',
    max_deliveries integer DEFAULT NULL,
    dead_letter_queue text DEFAULT NULL,
    partitions integer DEFAULT 1,
    history boolean DEFAULT false,
    history_retention interval DEFAULT '7 days')
RETURNS void
AS 'MODULE_PATHNAME', 'mq_create_queue'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.create_queue(text, interval, boolean, boolean, interval, interval, interval, integer, text, integer, boolean, interval) IS 'create a queue (of 1 to 64 partitions; history: record every message''s events, kept for history_retention)';

DROP FUNCTION mq.alter_queue(text, interval, boolean, interval, interval, interval, integer, text);
CREATE FUNCTION mq.alter_queue(
    queue_name text,
    visibility_timeout interval DEFAULT NULL,
    notify boolean DEFAULT NULL,
    dedup_window interval DEFAULT NULL,
    retry_delay interval DEFAULT NULL,
    retry_delay_max interval DEFAULT NULL,
    max_deliveries integer DEFAULT NULL,
    dead_letter_queue text DEFAULT NULL,
    partitions integer DEFAULT NULL,
    history boolean DEFAULT NULL,
    history_retention interval DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'mq_alter_queue'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.alter_queue(text, interval, boolean, interval, interval, interval, integer, text, integer, boolean, interval) IS 'change a queue''s options; NULL leaves one as it is (max_deliveries 0 and dead_letter_queue '''' remove them; partitions can grow, not shrink; history off keeps the events recorded)';

-- 1. mq.queues counts deliveries undone by a rollback, and shows partitions.
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
    OUT owner name,
    OUT rollbacks bigint,
    OUT partitions integer)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'mq_queue_stats'
LANGUAGE C STABLE;
COMMENT ON FUNCTION mq._queue_stats() IS 'internal: the rows of mq.queues';

CREATE VIEW mq.queues AS
    SELECT queue_name, created_at, visibility_timeout, unlogged,
           depth, in_flight, delayed, archived, oldest_age,
           total_bytes, archive_bytes, notify, waiting,
           max_deliveries, dead_letter_queue, failing,
           nacks, lease_expiries, rollbacks, dead_letters, owner, partitions
    FROM mq._queue_stats();
COMMENT ON VIEW mq.queues IS 'one row per queue the caller holds a privilege on: options, depth, in-flight, delayed, archived, oldest age, size, notify, consumers waiting, failing messages, failure counters, owner, partitions';
GRANT SELECT ON mq.queues TO PUBLIC;

-- 2. Looking without taking, and taking without a lease.
CREATE FUNCTION mq.peek(queue_name text, qty integer DEFAULT 10, state text DEFAULT NULL)
RETURNS TABLE (
    id          bigint,
    state       text,
    visible_at  timestamptz,
    deliveries  integer,
    failures    integer,
    last_error  text,
    enqueued_at timestamptz,
    payload     jsonb,
    headers     jsonb,
    priority    integer,
    group_id    text)
AS 'MODULE_PATHNAME', 'mq_peek'
LANGUAGE C VOLATILE ROWS 10;
COMMENT ON FUNCTION mq.peek(text, integer, text) IS 'up to qty messages in the order reads would deliver them, with their state (visible, blocked behind an older message of their group, leased, delayed), without locking, leasing or counting anything; state filters (consume privilege)';

CREATE FUNCTION mq.pop(queue_name text, qty integer DEFAULT 1)
RETURNS TABLE (
    id          bigint,
    payload     jsonb,
    headers     jsonb,
    enqueued_at timestamptz,
    vt          timestamptz,
    deliveries  integer,
    last_error  text,
    priority    integer,
    group_id    text)
AS 'MODULE_PATHNAME', 'mq_pop'
LANGUAGE C VOLATILE ROWS 10;
COMMENT ON FUNCTION mq.pop(text, integer) IS 'take up to qty visible messages, highest priority first, then oldest, and delete them in the same statement: at most once, no lease (consume privilege)';

-- 3. nack and set_vt for many messages.
CREATE FUNCTION mq.nack(
    queue_name text,
    ids bigint[],
    error text DEFAULT NULL,
    delay interval DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'mq_nack_many'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.nack(text, bigint[], text, interval) IS 'give messages back, as mq.nack does one; returns how many were given back or dead-lettered (consume privilege)';

CREATE FUNCTION mq.set_vt(queue_name text, ids bigint[], vt interval)
RETURNS bigint
AS 'MODULE_PATHNAME', 'mq_set_vt_many'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.set_vt(text, bigint[], interval) IS 'set when messages become visible again; returns how many were found (consume privilege)';

/*
 * 4. Drivers that send parameters untyped (node-pg, and psycopg for
 * strings): mq.ack($1, $2) matched both the bigint and the bigint[] form
 * (42725).  Given an untyped or text id, PostgreSQL now picks these, which
 * take one id or an array literal and return, as jsonb, what the typed
 * form returns.
 */
CREATE FUNCTION mq.ack(queue_name text, id text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'mq_ack_text'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.ack(text, text) IS 'mq.ack for an id or an array of ids given as text (untyped driver parameters); returns true/false or the count, as jsonb';

CREATE FUNCTION mq.archive(queue_name text, id text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'mq_archive_text'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.archive(text, text) IS 'mq.archive for an id or an array of ids given as text (untyped driver parameters); returns true/false or the count, as jsonb';

CREATE FUNCTION mq.nack(
    queue_name text,
    id text,
    error text DEFAULT NULL,
    delay interval DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'mq_nack_text'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.nack(text, text, text, interval) IS 'mq.nack for an id or an array of ids given as text (untyped driver parameters); returns true/false or the count, as jsonb';

CREATE FUNCTION mq.set_vt(queue_name text, id text, vt interval)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'mq_set_vt_text'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.set_vt(text, text, interval) IS 'mq.set_vt for an id or an array of ids given as text (untyped driver parameters); returns the new time or the count, as jsonb';

/*
 * 5. Message priority (0 to 9, highest delivered first), FIFO groups and
 * filtered reads.  Every queue table, of every partition, gains the
 * columns (no rewrite: a constant default and a null; a table the 0.5.0
 * library made before the update has them already) and the partial
 * indexes on the messages of a priority above 0 and on those of a group
 * (empty at first: existing messages have priority 0 and no group).
 */
DO $do$
DECLARE
    r record;
    k integer;
    t text;
BEGIN
    FOR r IN SELECT queue_name, partitions FROM mq.queue LOOP
        FOR k IN 0 .. r.partitions OPERATOR(pg_catalog.-) 1 LOOP
            t := CASE WHEN k OPERATOR(pg_catalog.=) 0 THEN 'q_'
                      ELSE 'q' OPERATOR(pg_catalog.||) k OPERATOR(pg_catalog.||) '_' END
                 OPERATOR(pg_catalog.||) r.queue_name;
            IF pg_catalog.to_regclass(pg_catalog.quote_ident('mq') OPERATOR(pg_catalog.||) '.'
                                      OPERATOR(pg_catalog.||) pg_catalog.quote_ident(t)) IS NULL THEN
                CONTINUE;   -- a table dropped by hand: the shape check reports it
            END IF;
            EXECUTE pg_catalog.format(
                'ALTER TABLE mq.%I ADD COLUMN IF NOT EXISTS priority integer NOT NULL DEFAULT 0,'
                ' ADD COLUMN IF NOT EXISTS group_id text', t);
            EXECUTE pg_catalog.format(
                'CREATE INDEX IF NOT EXISTS %I ON mq.%I (priority DESC, id)'
                ' WHERE priority OPERATOR(pg_catalog.<>) 0',
                t OPERATOR(pg_catalog.||) '_priority', t);
            EXECUTE pg_catalog.format(
                'CREATE INDEX IF NOT EXISTS %I ON mq.%I (group_id, id) WHERE group_id IS NOT NULL',
                t OPERATOR(pg_catalog.||) '_group', t);
        END LOOP;
    END LOOP;
END
$do$;

DROP FUNCTION mq.send(text, jsonb, jsonb, interval, text);
CREATE FUNCTION mq.send(
    queue_name text,
    payload jsonb,
    headers jsonb DEFAULT NULL,
    delay interval DEFAULT '0',
    dedup_key text DEFAULT NULL,
    priority integer DEFAULT 0,
    group_id text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'mq_send'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.send(text, jsonb, jsonb, interval, text, integer, text) IS 'send one message; returns its id (with dedup_key: the first send''s id inside the dedup window); priority 0 to 9, highest read first; group_id: delivered in send order within its FIFO group, one at a time (send privilege)';

DROP FUNCTION mq.send_batch(text, jsonb[], jsonb, interval, text[]);
CREATE FUNCTION mq.send_batch(
    queue_name text,
    payloads jsonb[],
    headers jsonb DEFAULT NULL,
    delay interval DEFAULT '0',
    dedup_keys text[] DEFAULT NULL,
    priority integer DEFAULT 0,
    priorities integer[] DEFAULT NULL,
    group_id text DEFAULT NULL,
    group_ids text[] DEFAULT NULL)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'mq_send_batch'
LANGUAGE C VOLATILE ROWS 100;
COMMENT ON FUNCTION mq.send_batch(text, jsonb[], jsonb, interval, text[], integer, integer[], text, text[]) IS 'send many messages; returns their ids in input order; priority for all, or priorities one per payload; group_id for all, or group_ids one per payload (send privilege)';

DROP FUNCTION mq.send_multi(text[], jsonb, jsonb, interval);
CREATE FUNCTION mq.send_multi(
    queue_names text[],
    payload jsonb,
    headers jsonb DEFAULT NULL,
    delay interval DEFAULT '0',
    priority integer DEFAULT 0,
    group_id text DEFAULT NULL)
RETURNS TABLE (queue_name text, id bigint)
AS 'MODULE_PATHNAME', 'mq_send_multi'
LANGUAGE C VOLATILE ROWS 4;
COMMENT ON FUNCTION mq.send_multi(text[], jsonb, jsonb, interval, integer, text) IS 'send one message to several queues, all or nothing; returns each queue''s new id (send privilege)';

DROP FUNCTION mq.read(text, integer, interval, interval, integer);
CREATE FUNCTION mq.read(
    queue_name text,
    qty integer DEFAULT 1,
    vt interval DEFAULT NULL,
    wait interval DEFAULT NULL,
    consumer_priority integer DEFAULT 0,
    filter jsonb DEFAULT NULL,
    payload_filter jsonb DEFAULT NULL)
RETURNS TABLE (
    id          bigint,
    payload     jsonb,
    headers     jsonb,
    enqueued_at timestamptz,
    vt          timestamptz,
    deliveries  integer,
    last_error  text,
    priority    integer,
    group_id    text)
AS 'MODULE_PATHNAME', 'mq_read'
LANGUAGE C VOLATILE ROWS 10;
COMMENT ON FUNCTION mq.read(text, integer, interval, interval, integer, jsonb, jsonb) IS 'lease up to qty visible messages, highest priority first, then oldest, never two of one FIFO group at once; with wait, sleep until one arrives or wait elapses; with filter or payload_filter, only messages whose headers or payload contain them (consume privilege)';

-- 4. Metrics (issue 14): counters and latencies from shared memory, depth
-- and ages from the tables; only queues the caller holds a privilege on.
CREATE FUNCTION mq.metrics(queue_name text DEFAULT NULL)
RETURNS TABLE (
    queue_name                text,
    queue_length              bigint,
    visible                   bigint,
    in_flight                 bigint,
    delayed                   bigint,
    newest_msg_age_sec        double precision,
    oldest_msg_age_sec        double precision,
    oldest_visible_age_sec    double precision,
    total_messages            bigint,
    sent                      bigint,
    delivered                 bigint,
    acked                     bigint,
    nacked                    bigint,
    archived                  bigint,
    dead_lettered             bigint,
    expired_leases            bigint,
    rolled_back               bigint,
    redriven                  bigint,
    counters_since            timestamptz,
    sent_per_sec              double precision,
    delivered_per_sec         double precision,
    acked_per_sec             double precision,
    failed_per_sec            double precision,
    queue_time_p50            double precision,
    queue_time_p95            double precision,
    queue_time_p99            double precision,
    queue_time_avg            double precision,
    queue_time_samples        bigint,
    processing_time_p50       double precision,
    processing_time_p95       double precision,
    processing_time_p99       double precision,
    processing_time_avg       double precision,
    processing_time_samples   bigint,
    consumers_waiting         integer,
    scrape_time               timestamptz)
AS 'MODULE_PATHNAME', 'mq_metrics'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.metrics(text) IS 'per queue (one, or every queue the caller holds a privilege on): depth by state, message ages, messages ever sent, event counters since counters_since, rates, latency percentiles and means over the last minute (seconds), consumers waiting';

CREATE VIEW mq.metrics AS SELECT * FROM mq.metrics();
COMMENT ON VIEW mq.metrics IS 'mq.metrics() for every queue the caller holds a privilege on';
GRANT SELECT ON mq.metrics TO PUBLIC;

CREATE FUNCTION mq.prometheus()
RETURNS text
AS 'MODULE_PATHNAME', 'mq_prometheus'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.prometheus() IS 'the metrics of every queue the caller holds a privilege on, in the Prometheus text exposition format';

CREATE FUNCTION mq.reset_metrics(queue_name text)
RETURNS void
AS 'MODULE_PATHNAME', 'mq_reset_metrics'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.reset_metrics(text) IS 'zero a queue''s counters and latency histograms; counters_since becomes now (manage privilege)';

-- 5. Scaling advice (issue 14): how many consumers keep up with the
-- arrivals, and how many drain the backlog within a target as well.
CREATE FUNCTION mq.consumers_needed(
    arrival_per_sec double precision,
    per_consumer_per_sec double precision,
    backlog bigint,
    drain_within interval)
RETURNS TABLE (to_keep_up integer, to_drain integer)
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN $2 IS NULL OR $2 <= 0 THEN NULL
                ELSE ceil(greatest($1, 0) / $2 - 1e-9)::integer END,
           CASE WHEN $2 IS NULL OR $2 <= 0 OR $4 IS NULL OR extract(epoch FROM $4) <= 0 THEN NULL
                ELSE ceil((greatest($1, 0) + greatest($3, 0) / extract(epoch FROM $4)::double precision)
                          / $2 - 1e-9)::integer END
$$;
COMMENT ON FUNCTION mq.consumers_needed(double precision, double precision, bigint, interval) IS 'consumers that keep up with arrival_per_sec when each handles per_consumer_per_sec (to_keep_up), and that also drain backlog within drain_within (to_drain); NULL when the per-consumer rate is unknown';

CREATE FUNCTION mq.scaling_advice(queue_name text, drain_within interval DEFAULT '5 minutes')
RETURNS TABLE (
    queue_name              text,
    backlog                 bigint,
    arrival_per_sec         double precision,
    processed_per_sec       double precision,
    processing_time_avg     double precision,
    per_consumer_per_sec    double precision,
    consumers_waiting       integer,
    consumers_to_keep_up    integer,
    consumers_to_drain      integer,
    basis                   text)
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT m.queue_name,
           m.visible + m.in_flight,
           m.sent_per_sec,
           m.acked_per_sec,
           m.processing_time_avg,
           CASE WHEN m.processing_time_avg > 0 THEN 1.0 / m.processing_time_avg END,
           m.consumers_waiting,
           n.to_keep_up,
           n.to_drain,
           CASE WHEN m.processing_time_avg IS NULL
                THEN 'no processing time measured in the last minute: consumers unknown'
                ELSE format('last minute: %s messages processed, %s s each on average; arrivals %s/s; backlog %s (visible and in flight); drain within %s',
                            m.processing_time_samples, round(m.processing_time_avg::numeric, 6),
                            round(m.sent_per_sec::numeric, 3), m.visible + m.in_flight, $2)
           END
      FROM mq.metrics($1) AS m,
           mq.consumers_needed(m.sent_per_sec,
                               CASE WHEN m.processing_time_avg > 0 THEN 1.0 / m.processing_time_avg END,
                               m.visible + m.in_flight, $2) AS n
$$;
COMMENT ON FUNCTION mq.scaling_advice(text, interval) IS 'consumers needed to keep up with a queue''s arrivals and to drain its backlog within drain_within, from the last minute''s arrival rate and processing time, with the inputs used';

-- 6. Alerts (issue 14): rules on a queue's metrics that the database's
-- worker evaluates; firing and resolving are logged, written to
-- mq.alert_log and sent with NOTIFY mq_alerts.
CREATE TABLE mq.alert (
    alert_name    text PRIMARY KEY
                  CHECK (alert_name OPERATOR(pg_catalog.~) '^[a-z_][a-z0-9_]*$'
                         AND pg_catalog.octet_length(alert_name) OPERATOR(pg_catalog.<=) 63),
    queue_name    text NOT NULL REFERENCES mq.queue (queue_name) ON DELETE CASCADE,
    metric        text NOT NULL,
    operator      text NOT NULL,
    threshold     double precision NOT NULL,
    for_duration  interval NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    state         text NOT NULL DEFAULT 'ok'
                  CHECK (state OPERATOR(pg_catalog.=) ANY (ARRAY['ok', 'pending', 'firing'])),
    pending_since timestamptz,
    fired_at      timestamptz,
    last_value    double precision,
    last_checked  timestamptz
);
SELECT pg_catalog.pg_extension_config_dump('mq.alert', '');
COMMENT ON TABLE mq.alert IS 'alert rules (mq.create_alert) and their state, kept by the worker';
CREATE INDEX alert_queue ON mq.alert (queue_name);

CREATE TABLE mq.alert_log (
    id          bigserial PRIMARY KEY,
    alert_name  text NOT NULL,
    queue_name  text NOT NULL,
    event       text NOT NULL CHECK (event OPERATOR(pg_catalog.=) ANY (ARRAY['firing', 'resolved'])),
    metric      text NOT NULL,
    operator    text NOT NULL,
    threshold   double precision NOT NULL,
    value       double precision,
    at          timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE mq.alert_log IS 'every firing and resolving of an alert, as the worker saw it';
REVOKE ALL ON mq.alert, mq.alert_log FROM PUBLIC;

CREATE FUNCTION mq.create_alert(
    alert_name text,
    queue_name text,
    metric text,
    threshold double precision,
    for_duration interval DEFAULT '0',
    operator text DEFAULT '>')
RETURNS void
AS 'MODULE_PATHNAME', 'mq_create_alert'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.create_alert(text, text, text, double precision, interval, text) IS 'a rule: when metric (depth, queue_length, in_flight, oldest_age, failure_rate, dead_letter_rate, no_consumers, queue_time_p95, processing_time_p95) of the queue compares (operator) to threshold for for_duration, the alert fires, once; it resolves, once, when it does not (manage privilege)';

CREATE FUNCTION mq.drop_alert(alert_name text)
RETURNS void
AS 'MODULE_PATHNAME', 'mq_drop_alert'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.drop_alert(text) IS 'drop an alert rule (manage privilege on its queue)';

CREATE FUNCTION mq.evaluate_alerts()
RETURNS integer
AS 'MODULE_PATHNAME', 'mq_evaluate_alerts'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mq.evaluate_alerts() IS 'evaluate every alert rule now, as the worker does every mq.worker_naptime; returns how many fired or resolved';
REVOKE ALL ON FUNCTION mq.evaluate_alerts() FROM PUBLIC;

CREATE FUNCTION mq._may_see(queue_name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'mq_may_see'
LANGUAGE C STABLE;
COMMENT ON FUNCTION mq._may_see(text) IS 'internal: may the current role see the queue (any privilege on it, or pg_monitor)';

CREATE VIEW mq.alerts AS
    SELECT alert_name, queue_name, metric, operator, threshold, for_duration, state,
           pending_since, fired_at, last_value, last_checked, created_at
      FROM mq.alert WHERE mq._may_see(queue_name);
COMMENT ON VIEW mq.alerts IS 'the alert rules of the queues the caller may see, with their state';
GRANT SELECT ON mq.alerts TO PUBLIC;

CREATE VIEW mq.alert_history AS
    SELECT id, alert_name, queue_name, event, metric, operator, threshold, value, at
      FROM mq.alert_log WHERE mq._may_see(queue_name);
COMMENT ON VIEW mq.alert_history IS 'firings and resolutions of the alerts of the queues the caller may see';
GRANT SELECT ON mq.alert_history TO PUBLIC;

-- Lifecycle tracing: a message's events, in order, across dead-letter and
-- redrive links.
CREATE FUNCTION mq.trace(queue_name text, id bigint,
    OUT queue text, OUT message_id bigint, OUT event_at timestamptz, OUT event text,
    OUT delivery integer, OUT role text, OUT application_name text,
    OUT backend_pid integer, OUT visible_at timestamptz, OUT error text,
    OUT traceparent text, OUT other_queue text, OUT other_id bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'mq_trace'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION mq.trace(text, bigint) IS 'the events of a message of a queue with history, in order, following dead-letter and redrive links (consume or manage privilege, or pg_monitor)';
