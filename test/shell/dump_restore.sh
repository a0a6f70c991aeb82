#!/usr/bin/env bash
# pg_dump / pg_restore carry queues, their alert rules, all their options (dead letters, retry,
# dedup, notify), their messages (ids, leases, deliveries, errors, delays),
# archives, id sequences, dedup keys, mq.mark_processed records, queue
# owners and privileges, and a queue of 3 partitions (each partition's
# table and id range); the restored queues keep working, continue their
# ids (in each partition's range), belong to the owner of mq's objects and
# obey the same privileges.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/test/lib.sh"
W=$1
export PGHOST=127.0.0.1 PGPORT=$MQ_TEST_PORT PGUSER=postgres
q() { "$PGBIN/psql" -X -qAt -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

q postgres "DROP DATABASE IF EXISTS mq_dump_src" ; q postgres "DROP DATABASE IF EXISTS mq_dump_dst"
q postgres "CREATE DATABASE mq_dump_src"
q mq_dump_src "CREATE EXTENSION mq"
q mq_dump_src "SELECT mq.create_queue('alpha', '2 minutes')"
q mq_dump_src "SELECT mq.create_queue('beta')"
q mq_dump_src "SELECT count(*) FROM mq.send_batch('alpha', (SELECT array_agg(jsonb_build_object('i', i)) FROM generate_series(1, 100) i), '{\"h\": 1}')" >/dev/null
q mq_dump_src "SELECT count(*) FROM mq.read('alpha', 10)" >/dev/null
q mq_dump_src "SELECT mq.nack('alpha', (SELECT min(id) FROM mq.q_alpha), 'kept error', '1 hour')" >/dev/null
q mq_dump_src "SELECT mq.archive('alpha', ARRAY(SELECT id FROM mq.q_alpha ORDER BY id DESC LIMIT 5))" >/dev/null
q mq_dump_src "SELECT mq.ack('alpha', ARRAY(SELECT id FROM mq.q_alpha ORDER BY id DESC LIMIT 5))" >/dev/null
q mq_dump_src "SELECT mq.send('beta', '{\"later\": true}', NULL, '1 day')" >/dev/null
# Every 0.3.0 option, a dedup key and an idempotent-consumer record.
q mq_dump_src "SELECT mq.create_queue('gamma', notify => true, dedup_window => '1 hour', retry_delay => '5 seconds',
               retry_delay_max => '2 minutes', max_deliveries => 4, dead_letter_queue => 'beta')"
q mq_dump_src "SELECT mq.send('gamma', '{\"g\": 1}', dedup_key => 'g-1')" >/dev/null
q mq_dump_src "SELECT mq.mark_processed('gamma', 'order-9')" >/dev/null
# Owners and privileges (roles are the cluster's, so both databases see them).
q postgres "DROP ROLE IF EXISTS mq_dump_app"
q postgres "CREATE ROLE mq_dump_app"
q mq_dump_src "SELECT mq.grant('alpha', 'send, consume', 'mq_dump_app')"
q mq_dump_src "SELECT mq.grant('beta', 'send', 'public')"
q mq_dump_src "SELECT mq.grant_create('mq_dump_app')"
q mq_dump_src "SET ROLE mq_dump_app; SELECT mq.create_queue('delta')"
# A partitioned queue: 9 messages over 3 partitions, 2 of them leased.
q mq_dump_src "SELECT mq.create_queue('eps', partitions => 3)"
q mq_dump_src "DO \$\$ BEGIN FOR g IN 1 .. 9 LOOP PERFORM mq.send('eps', jsonb_build_object('e', g)); COMMIT; END LOOP; END \$\$"
q mq_dump_src "SELECT count(*) FROM mq.read('eps', 2)" >/dev/null
# A queue with lifecycle history: its events travel with it.
q mq_dump_src "SELECT mq.create_queue('zeta', history => true, history_retention => '3 days')"
q mq_dump_src "SELECT count(*) FROM mq.send_batch('zeta', array_fill('{}'::jsonb, ARRAY[3]), '{\"traceparent\": \"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\"}')" >/dev/null
q mq_dump_src "SELECT count(mq.ack('zeta', id)) FROM mq.read('zeta', 2)" >/dev/null
q mq_dump_src "SELECT mq.create_alert('alpha_old', 'alpha', 'oldest_age', 300, '5 minutes')"
q mq_dump_src "SELECT mq.create_alert('eps_deep', 'eps', 'depth', 1000, '0', '>=')"

snapshot() {
    q "$1" "SELECT * FROM mq.queue ORDER BY queue_name"
    q "$1" "SELECT * FROM mq.dedup ORDER BY 1, 2"
    q "$1" "SELECT * FROM mq.processed ORDER BY 1, 2"
    q "$1" "SELECT queue_name, grantee, privilege FROM mq.privilege ORDER BY 1, 2::text, 3"
    q "$1" "SELECT alert_name, queue_name, metric, operator, threshold, for_duration, created_at FROM mq.alert ORDER BY 1"
    q "$1" "SELECT c.relname, pg_get_userbyid(c.relowner), c.relacl FROM pg_class c
            WHERE c.relnamespace = 'mq'::regnamespace AND c.relkind IN ('r', 'S') ORDER BY 1"
    q "$1" "SELECT id, payload, headers, enqueued_at, vt, deliveries, leased, last_error, failures, first_error, failed_at FROM mq.q_alpha ORDER BY id"
    q "$1" "SELECT id, payload, vt, deliveries FROM mq.q_beta ORDER BY id"
    q "$1" "SELECT id, payload, headers, enqueued_at, archived_at, deliveries, last_error FROM mq.a_alpha ORDER BY id"
    q "$1" "SELECT last_value FROM mq.q_alpha_id_seq"
    q "$1" "SELECT queue_name, depth, in_flight, delayed, archived, partitions FROM mq.queues ORDER BY 1"
    q "$1" "SELECT msg_id, event_at, event, delivery, role, application_name, backend_pid, visible_at, error,
                   traceparent, other_queue, other_id FROM mq.h_zeta ORDER BY 1, 2, 3"
    q "$1" "SELECT id, payload, vt, deliveries, leased FROM mq.q_eps UNION ALL
            SELECT id, payload, vt, deliveries, leased FROM mq.q1_eps UNION ALL
            SELECT id, payload, vt, deliveries, leased FROM mq.q2_eps ORDER BY 1"
    q "$1" "SELECT sequencename, min_value, max_value, last_value FROM pg_sequences
            WHERE schemaname = 'mq' AND sequencename LIKE 'q%eps%' ORDER BY 1"
}
snapshot mq_dump_src > "$W/src.txt"

"$PGBIN/pg_dump" -Fc -d mq_dump_src -f "$W/dump.pgc"
q postgres "CREATE DATABASE mq_dump_dst"
"$PGBIN/pg_restore" -d mq_dump_dst --exit-on-error "$W/dump.pgc"
snapshot mq_dump_dst > "$W/dst.txt"

if ! diff -u "$W/src.txt" "$W/dst.txt"; then
    echo "dump/restore changed the queues"; exit 1
fi
[ "$(wc -l < "$W/src.txt")" -gt 90 ] || { echo "snapshot unexpectedly small"; cat "$W/src.txt"; exit 1; }
grep -q "gamma|" "$W/src.txt" && grep -q "|g-1|" "$W/src.txt" && grep -q "gamma|order-9|" "$W/src.txt" &&
    grep -q "^delta|.*|mq_dump_app|1|f|7 days$" "$W/src.txt" && grep -q "^zeta|.*|t|3 days$" "$W/src.txt" &&
    grep -q "|acked|1|postgres|" "$W/src.txt" && grep -q "^alpha|mq_dump_app|consume$" "$W/src.txt" &&
    grep -q "^beta|-|send$" "$W/src.txt" && grep -q "^|mq_dump_app|create$" "$W/src.txt" &&
    grep -q "|kept error|1|kept error|20" "$W/src.txt" ||
    { echo "snapshot lacks the 0.3.0 options, dedup key, processed record, failure record, privileges or history"; cat "$W/src.txt"; exit 1; }

# The restored privileges act: the role consumes alpha, may not touch gamma.
got=$(q mq_dump_dst "SET ROLE mq_dump_app; SELECT count(*) FROM mq.queues")
[ "$got" = 3 ] || { echo "mq_dump_app sees $got queues after restore, expected alpha, beta and its delta"; exit 1; }
if q mq_dump_dst "SET ROLE mq_dump_app; SELECT mq.send('gamma', '{}')" 2>"$W/denied.txt"; then
    echo "mq_dump_app sent to gamma after restore"; exit 1
fi
grep -q 'permission denied to send to queue "gamma"' "$W/denied.txt" || { cat "$W/denied.txt"; exit 1; }

# The restored options act: the dedup key still deduplicates.
dup=$(q mq_dump_dst "SELECT mq.send('gamma', '{\"g\": 2}', dedup_key => 'g-1') = (SELECT id FROM mq.q_gamma)")
[ "$dup" = t ] || { echo "the restored dedup key did not deduplicate"; exit 1; }

# The restored queue works: ids continue after the dumped sequence, reads and
# acks succeed, and the queue can be dropped cleanly.
max_before=$(q mq_dump_dst "SELECT max(id) FROM mq.q_alpha")
new_id=$(q mq_dump_dst "SELECT mq.send('alpha', '{\"after\": \"restore\"}')")
[ "$new_id" -gt "$max_before" ] || { echo "id $new_id did not continue after $max_before"; exit 1; }
got=$(q mq_dump_dst "SELECT count(*) FROM mq.read('alpha', 1000)")
[ "$got" = 81 ] || { echo "expected 81 readable messages after restore, got $got"; exit 1; }
# The restored partitioned queue: each partition's ids go on in its range.
q mq_dump_dst "CREATE TABLE eps_before AS SELECT 0 AS k, max(id) AS m FROM mq.q_eps UNION ALL
               SELECT 1, max(id) FROM mq.q1_eps UNION ALL SELECT 2, max(id) FROM mq.q2_eps"
q mq_dump_dst "CREATE TABLE eps_sent (id bigint)"
q mq_dump_dst "DO \$\$ BEGIN FOR g IN 1 .. 3 LOOP INSERT INTO eps_sent SELECT mq.send('eps', '{\"after\": 1}'); COMMIT; END LOOP; END \$\$"
got=$(q mq_dump_dst "SELECT string_agg(DISTINCT (id >> 48)::text, ',') || '|' || bool_and(id > m)
                       FROM eps_sent JOIN eps_before ON k = id >> 48")
[ "$got" = "0,1,2|true" ] || { echo "sends after restore to the partitioned queue: $got"; exit 1; }
got=$(q mq_dump_dst "SELECT count(*) FROM (SELECT id FROM mq.q_eps UNION ALL SELECT id FROM mq.q1_eps
                        UNION ALL SELECT id FROM mq.q2_eps) x
                      WHERE id <> ALL (SELECT id FROM mq.peek('eps', 100))")
[ "$got" = 0 ] || { echo "$got messages of the restored partitioned queue are not seen by peek"; exit 1; }
got=$(q mq_dump_dst "SELECT count(*) FROM mq.read('eps', 100)")
[ "$got" = 10 ] || { echo "expected 10 readable messages in the restored partitioned queue, got $got"; exit 1; }
# The restored history is traced, and grows.
got=$(q mq_dump_dst "SELECT string_agg(event, ',') FROM mq.trace('zeta', (SELECT min(msg_id) FROM mq.h_zeta))")
[ "$got" = "sent,delivered,acked" ] || { echo "trace of a restored message: $got"; exit 1; }
zid=$(q mq_dump_dst "SELECT id FROM mq.read('zeta')")
got=$(q mq_dump_dst "SELECT string_agg(event || ':' || (traceparent IS NOT NULL), ',') FROM mq.trace('zeta', $zid)")
[ "$got" = "sent:true,delivered:true" ] || { echo "events after restore: $got"; exit 1; }
q mq_dump_dst "SELECT mq.drop_queue('alpha')" >/dev/null
q mq_dump_dst "DROP EXTENSION mq"
left=$(q mq_dump_dst "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'mq'")
[ "$left" = 0 ] || { echo "relations left after DROP EXTENSION on restored db: $left"; exit 1; }

# A plain-text dump restores too.
"$PGBIN/pg_dump" -d mq_dump_src -f "$W/dump.sql"
q postgres "CREATE DATABASE mq_dump_sql"
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d mq_dump_sql -f "$W/dump.sql" >/dev/null
snapshot mq_dump_sql > "$W/sql.txt"
diff -u "$W/src.txt" "$W/sql.txt"

q postgres "DROP DATABASE mq_dump_src"; q postgres "DROP DATABASE mq_dump_dst"; q postgres "DROP DATABASE mq_dump_sql"
q postgres "DROP ROLE mq_dump_app"
echo "dump/restore ok: $(wc -l < "$W/src.txt") snapshot lines identical"
