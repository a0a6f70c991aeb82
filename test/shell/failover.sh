#!/usr/bin/env bash
# Failover: a streaming replica (pg_basebackup -R) follows a primary that
# runs mq, as a synchronous standby.  Producers commit with
# synchronous_commit = remote_apply, consumers read and ack; then the
# primary dies (stop -m immediate) and the standby is promoted.  Every
# message committed on the primary is there, exactly as committed (acked
# ones gone, leases kept), and the new primary serves reads, acks and
# waiting reads, with its mq worker running.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/test/lib.sh"
W=${1:?usage: failover.sh WORKDIR}
P=$W/primary
S=$W/standby
PPORT=$(free_port)
SPORT=$(free_port)
while [ "$SPORT" = "$PPORT" ]; do SPORT=$(free_port); done
DB=mq_failover
T0=$SECONDS

cleanup() {
    cluster_stop "$S" immediate
    cluster_stop "$P" immediate
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    for c in "$P" "$S"; do
        echo "--- $c/server.log tail ---" >&2
        tail -n 30 "$c/server.log" >&2 2>/dev/null || true
    done
    exit 1
}
pq() { "$PGBIN/psql" -X -qAt -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$1" -U postgres -d "${3:-$DB}" -c "$2"; }
expect() {   # expect WHAT EXPECTED ACTUAL
    if [ "$2" != "$3" ]; then fail "$1: expected [$2], got [$3]"; fi
    echo "ok: $1 ($3)"
}
wait_for() {   # wait_for WHAT PORT SQL [DB]: until SQL returns a row
    local i out
    for i in $(seq 1 300); do
        out=$(pq "$2" "$3" "${4:-$DB}" 2>/dev/null || true)
        if [ -n "$out" ]; then echo "$out"; return 0; fi
        sleep 0.1
    done
    fail "timed out after 30 s waiting for $1"
}

# --- primary, with a synchronous standby named "standby"
cluster_init "$P" "$PPORT" yes
{
    echo "wal_level = replica"
    echo "max_wal_senders = 5"
} | as_pg tee -a "$P/data/postgresql.conf" >/dev/null
cluster_start "$P" || { cat "$P/server.log"; exit 1; }
pq "$PPORT" "CREATE DATABASE $DB" postgres
pq "$PPORT" "CREATE EXTENSION mq"
pq "$PPORT" "SELECT mq.create_queue('orders'); SELECT mq.create_queue('audit', notify => true)" >/dev/null

# --- standby from a base backup, streaming
mkdir -p "$S" && { [ "$(id -u)" != 0 ] || chown postgres: "$S"; }
as_pg "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$PPORT" -U postgres -D "$S/data" -R -X stream -c fast \
    -d "host=127.0.0.1 port=$PPORT user=postgres application_name=standby" >"$W/basebackup.log" 2>&1 ||
    { cat "$W/basebackup.log"; fail "pg_basebackup failed"; }
as_pg sed -i -e "s/^port = .*/port = $SPORT/" -e "s|^unix_socket_directories = .*|unix_socket_directories = '$S'|" "$S/data/postgresql.conf"
cluster_start "$S" || { cat "$S/server.log"; fail "standby did not start"; }
# Only now make it synchronous: before a standby exists, commits would wait.
pq "$PPORT" "ALTER SYSTEM SET synchronous_standby_names = 'standby'" postgres
pq "$PPORT" "SELECT pg_reload_conf()" postgres >/dev/null
wait_for "the standby to stream as a synchronous standby" "$PPORT" \
    "SELECT 1 FROM pg_stat_replication WHERE application_name = 'standby' AND sync_state = 'sync'" postgres >/dev/null
echo "ok: standby streams synchronously (primary $PPORT, standby $SPORT)"

# --- load on the primary: every commit waits until the standby applied it
for b in $(seq 1 20); do
    pq "$PPORT" "SET synchronous_commit = remote_apply;
        SELECT count(*) FROM mq.send_batch('orders', ARRAY(SELECT jsonb_build_object('n', g) FROM generate_series($(( (b - 1) * 50 + 1 )), $(( b * 50 ))) g ORDER BY g));
        SELECT count(*) FROM mq.send_multi(ARRAY['audit'], jsonb_build_object('batch', $b))" >/dev/null
done
pq "$PPORT" "SET synchronous_commit = remote_apply;
    SELECT count(mq.ack('orders', id)) FROM mq.read('orders', 100)" >/dev/null    # n 1..100 acked
LEASED=$(pq "$PPORT" "SET synchronous_commit = remote_apply;
    SELECT string_agg(payload->>'n', ',' ORDER BY id) FROM mq.read('orders', 10, '1 hour')")
pq "$PPORT" "SET synchronous_commit = remote_apply;
    SELECT mq.send('orders', '{\"n\": 1001}', dedup_key => 'last')" >/dev/null
expect "primary: orders depth|in_flight" "891|10" "$(pq "$PPORT" "SELECT depth || '|' || in_flight FROM mq.queues WHERE queue_name = 'orders'")"
PRIMARY_STATE=$(pq "$PPORT" "SELECT md5(string_agg(id || ':' || payload::text || ':' || deliveries || ':' || leased, ',' ORDER BY id)) FROM mq.q_orders")

# The standby answers monitoring queries (read-only) with the same state.
expect "standby before failover: orders depth|in_flight" "891|10" \
    "$(pq "$SPORT" "SELECT depth || '|' || in_flight FROM mq.queues WHERE queue_name = 'orders'")"

# --- the primary dies; the standby is promoted
cluster_stop "$P" immediate
echo "primary stopped with -m immediate"
as_pg "$PGBIN/pg_ctl" -D "$S/data" -w -t 60 promote >/dev/null || fail "promote failed"
wait_for "the promoted standby to accept writes" "$SPORT" "SELECT 1 WHERE NOT pg_is_in_recovery()" >/dev/null
echo "ok: standby promoted"

expect "new primary: every committed message, as committed (ids, payloads, deliveries, leases)" "$PRIMARY_STATE" \
    "$(pq "$SPORT" "SELECT md5(string_agg(id || ':' || payload::text || ':' || deliveries || ':' || leased, ',' ORDER BY id)) FROM mq.q_orders")"
expect "new primary: committed n values missing" 0 \
    "$(pq "$SPORT" "SELECT count(*) FROM (SELECT g FROM generate_series(101, 1001) g EXCEPT SELECT (payload->>'n')::int FROM mq.q_orders) x")"
expect "new primary: acked messages stay gone" 0 \
    "$(pq "$SPORT" "SELECT count(*) FROM mq.q_orders WHERE (payload->>'n')::int <= 100")"
expect "new primary: leases kept" "$LEASED" \
    "$(pq "$SPORT" "SELECT string_agg(payload->>'n', ',' ORDER BY id) FROM mq.q_orders WHERE leased AND vt > now()")"
expect "new primary: audit has the 20 send_multi messages" 20 "$(pq "$SPORT" "SELECT count(*) FROM mq.q_audit")"
expect "new primary: the dedup key survived" \
    "$(pq "$SPORT" "SELECT id FROM mq.q_orders WHERE payload->>'n' = '1001'")" \
    "$(pq "$SPORT" "SELECT mq.send('orders', '{\"n\": 9999}', dedup_key => 'last')")"

# Reads and acks work; ids continue after the primary's.
expect "new primary: read + ack of the oldest visible message" "111|true" \
    "$(pq "$SPORT" "SELECT payload->>'n' || '|' || mq.ack('orders', id) FROM mq.read('orders')")"
NEWID=$(pq "$SPORT" "SELECT mq.send('orders', '{\"n\": 2000}')")
[ "$NEWID" -gt "$(pq "$SPORT" "SELECT max(id) FROM mq.q_orders WHERE id <> $NEWID")" ] ||
    fail "new primary: new id $NEWID does not continue after the old ones"
echo "ok: new primary: ids continue ($NEWID)"

# The worker runs on the new primary, and waiting reads are woken.
wait_for "the mq worker on the new primary" "$SPORT" \
    "SELECT pid FROM pg_stat_activity WHERE backend_type = 'mq worker' AND datname = '$DB'" >/dev/null
echo "ok: mq worker runs on the new primary"
pq "$SPORT" "SELECT mq.create_queue('after')" >/dev/null
t0=$(date +%s%N)
pq "$SPORT" "SELECT mq.send('after', '{\"due\": true}', NULL, '1.5 s')" >/dev/null
got=$(pq "$SPORT" "SELECT payload->>'due' FROM mq.read('after', 1, NULL, '30 s')")
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
expect "new primary: a waiting read gets a delayed message when due" true "$got"
[ "$ms" -ge 1300 ] && [ "$ms" -lt 15000 ] || fail "the delayed message came after $ms ms (1.5 s delay)"
echo "ok: ... after $ms ms"

echo "failover test ok in $((SECONDS - T0)) s"
