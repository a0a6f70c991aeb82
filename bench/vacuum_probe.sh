#!/bin/bash
# Developer experiment (not part of make bench): does the worker's vacuum
# change read latency after churn?  Against a running server with mq
# preloaded (PORT, default 5432; superuser postgres on 127.0.0.1), in a
# scratch database "mqlat" it creates and drops: four rounds alternating
# mq.vacuum_naptime 1 and 0; each round makes a queue of 13,000 messages,
# times a 1-client probe of 3,000 read+ack transactions, runs 200,000
# send/read/ack cycles on 4 clients, tops the queue up and times the probe
# again.  Prints before/after latency (ms) and the table size per round.
set -euo pipefail
PORT=${PORT:-5432}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
DB=mqlat
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
S() { "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d "$DB" -Atc "$1"; }
PGB() { "$PGBIN/pgbench" -n -M prepared -h 127.0.0.1 -p "$PORT" -U postgres "$@" "$DB"; }
"$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres \
    -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
S "CREATE EXTENSION mq"
cat >"$TMP/cycle.sql" <<'X'
SELECT mq.send('bench', '{"k":1}');
BEGIN;
SELECT coalesce(max(id), 0) AS id FROM mq.read('bench', 1) \gset
SELECT mq.ack('bench', :id::bigint);
COMMIT;
X
sed 1d "$TMP/cycle.sql" >"$TMP/read1.sql"
probe() { PGB -c 1 -t 3000 -f "$TMP/read1.sql" 2>&1 | awk '/latency average/ {print $4}'; }
fill() { S "SELECT count(*) FROM mq.send_batch('bench', (SELECT array_agg(jsonb_build_object('i', g)) FROM generate_series(1, $1) g))" >/dev/null; }
for mode in 1 0 1 0; do
    S "ALTER SYSTEM SET mq.vacuum_naptime = $mode"; S "SELECT pg_reload_conf()" >/dev/null
    S "SELECT mq.drop_queue('bench')" >/dev/null 2>&1 || true
    S "SELECT mq.create_queue('bench')" >/dev/null
    fill 13000
    sleep 3
    before=$(probe)
    PGB -c 4 -j 2 -t 50000 -f "$TMP/cycle.sql" >/dev/null 2>&1
    sleep 5
    fill 3000
    after=$(probe)
    echo "mq.vacuum_naptime=$mode before=$before after=$after size=$(S "SELECT pg_size_pretty(pg_total_relation_size('mq.q_bench'))")"
done
S "ALTER SYSTEM RESET mq.vacuum_naptime"; S "SELECT pg_reload_conf()" >/dev/null
"$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -c "DROP DATABASE $DB WITH (FORCE)"
