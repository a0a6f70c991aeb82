#!/usr/bin/env bash
# pg_dump / pg_restore carry queues, all their options (dead letters, retry,
# dedup, notify), their messages (ids, leases, deliveries, errors, delays),
# archives, id sequences, dedup keys and mq.mark_processed records; the
# restored queue keeps working and continues its ids.
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
q mq_dump_src "SELECT mq.mark_processed('billing', 'order-9')" >/dev/null

snapshot() {
    q "$1" "SELECT * FROM mq.queue ORDER BY queue_name"
    q "$1" "SELECT * FROM mq.dedup ORDER BY 1, 2"
    q "$1" "SELECT * FROM mq.processed ORDER BY 1, 2"
    q "$1" "SELECT id, payload, headers, enqueued_at, vt, deliveries, leased, last_error, failures, first_error, failed_at FROM mq.q_alpha ORDER BY id"
    q "$1" "SELECT id, payload, vt, deliveries FROM mq.q_beta ORDER BY id"
    q "$1" "SELECT id, payload, headers, enqueued_at, archived_at, deliveries, last_error FROM mq.a_alpha ORDER BY id"
    q "$1" "SELECT last_value FROM mq.q_alpha_id_seq"
    q "$1" "SELECT queue_name, depth, in_flight, delayed, archived FROM mq.queues ORDER BY 1"
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
grep -q "gamma|" "$W/src.txt" && grep -q "|g-1|" "$W/src.txt" && grep -q "billing|order-9|" "$W/src.txt" &&
    grep -q "|kept error|1|kept error|20" "$W/src.txt" ||
    { echo "snapshot lacks the 0.3.0 options, dedup key, processed record or failure record"; cat "$W/src.txt"; exit 1; }

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
echo "dump/restore ok: $(wc -l < "$W/src.txt") snapshot lines identical"
