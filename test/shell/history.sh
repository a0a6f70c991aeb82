#!/usr/bin/env bash
# Lifecycle tracing, the events the database's worker records (mq.worker_naptime
# = 1 s here), on a preloaded cluster of our own:
#   1. a read rolled back by its consumer: "rolled_back", written by the
#      worker with the pid and role of the consumer that rolled back, then
#      the next delivery;
#   2. a lease that ended and that no read took: "lease_expired", found by
#      the worker's sweep (role empty, application "mq worker"); then, the
#      last allowed delivery used, "dead_lettered" into the dead-letter
#      queue, whose trace goes back to the first send;
#   3. history_retention: the worker deletes older events, in batches of
#      1,000 (2,500 events here), and leaves the others' alone;
#   4. mq.trace as a role without consume or manage: 42501.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/test/lib.sh"
W=${1:?usage: history.sh WORKDIR}
C=$W/history_cluster
PORT=$(free_port)
DB=mq_history

cleanup() {
    cluster_stop "$C" fast
    cluster_stop "$C" immediate
}
trap cleanup EXIT
trap 'echo "history.sh: command failed at line $LINENO: $BASH_COMMAND" >&2' ERR

cluster_init "$C" "$PORT" yes
echo "mq.worker_naptime = 1" | as_pg tee -a "$C/data/postgresql.conf" >/dev/null
cluster_start "$C" || { cat "$C/server.log"; exit 1; }
psql_ -d postgres -c "CREATE DATABASE $DB"
q "CREATE EXTENSION mq"
q "CREATE ROLE hs_consumer LOGIN"
q "CREATE ROLE hs_stranger LOGIN"
q "SELECT mq.create_queue('hd', history => true)" >/dev/null
q "SELECT mq.create_queue('h1', max_deliveries => 3, dead_letter_queue => 'hd', history => true)" >/dev/null
q "SELECT mq.grant('h1', 'consume', 'hs_consumer')" >/dev/null

# wait_for WHAT SQL EXPECTED SECONDS: poll until SQL gives EXPECTED.
wait_for() {
    local got="" i
    for ((i = 0; i < $4 * 10; i++)); do
        got=$(q "$2")
        if [ "$got" = "$3" ]; then echo "ok: $1 ($got)"; return 0; fi
        sleep 0.1
    done
    fail "$1: expected [$3] within $4 s, got [$got]"
}

# --- 1. a rolled-back delivery ---------------------------------------------------
m1=$(q "SELECT mq.send('h1', '{\"n\": 1}', '{\"traceparent\": \"00-11111111111111111111111111111111-2222222222222222-01\"}')")
pid=$("$PGBIN/psql" -X -qAt -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U hs_consumer -d "$DB" <<SQL
SELECT pg_backend_pid();
BEGIN;
SELECT count(*) FROM mq.read('h1') \\g /dev/null
ROLLBACK;
SQL
)
wait_for "the worker records the rolled-back delivery" \
    "SELECT count(*) FROM mq.trace('h1', $m1) WHERE event = 'rolled_back'" 1 30
expect "rolled_back: delivery, error, the consumer's pid and role, the traceparent" \
    "1|rolled back (delivery 1)|$pid|hs_consumer|00-11111111111111111111111111111111-2222222222222222-01" \
    "$(q "SELECT delivery, error, backend_pid, role, traceparent FROM mq.trace('h1', $m1) WHERE event = 'rolled_back'")"
# Nothing of the rolled-back read itself was written.
expect "events of m1 after the rollback" "sent,rolled_back" \
    "$(q "SELECT string_agg(event, ',' ORDER BY event_at) FROM mq.trace('h1', $m1)")"
expect "the next delivery is number 2" "2" \
    "$(q "SELECT deliveries FROM mq.read('h1', 1, vt => '1 second')")"

# --- 2. an expired lease found by the sweep, then a dead letter --------------------
# Delivery 2 above was leased for 1 s and is not read again: the worker's
# sweep records its expiry (a naptime after it ended).
wait_for "the sweep records the expired lease" \
    "SELECT count(*) FROM mq.trace('h1', $m1) WHERE event = 'lease_expired'" 1 30
expect "lease_expired by the worker: delivery, error, role, application" \
    "2|lease expired (delivery 2)|t|mq worker|t" \
    "$(q "SELECT delivery, error, role IS NULL, application_name, visible_at IS NOT NULL FROM mq.trace('h1', $m1) WHERE event = 'lease_expired'")"
# Delivery 3, the last allowed, also expires: the sweep dead-letters it.
q "SELECT count(*) FROM mq.read('h1', 1, vt => '1 second')" >/dev/null
wait_for "the sweep dead-letters the message" \
    "SELECT count(*) FROM mq.trace('h1', $m1) WHERE event = 'dead_lettered'" 1 30
expect "the whole trace, from the dead-letter queue's copy" \
    "h1:sent,h1:rolled_back,h1:delivered,h1:lease_expired,h1:delivered,h1:lease_expired,h1:dead_lettered,hd:received" \
    "$(q "SELECT string_agg(queue || ':' || event, ',') FROM mq.trace('hd', (SELECT other_id FROM mq.h_h1 WHERE event = 'dead_lettered'))")"

# --- 3. retention --------------------------------------------------------------------
q "SELECT mq.create_queue('h2', history => true, history_retention => '1 second')" >/dev/null
q "SELECT count(*) FROM mq.send_batch('h2', array_fill('{}'::jsonb, ARRAY[2500]))" >/dev/null
expect "events of h2 before the purge" 2500 "$(q "SELECT count(*) FROM mq.h_h2")"
before=$(q "SELECT count(*) FROM mq.h_h1")
wait_for "the worker purges h2's events past its retention" "SELECT count(*) FROM mq.h_h2" 0 60
expect "h1's events (7 days' retention) are kept" "$before" "$(q "SELECT count(*) FROM mq.h_h1")"
expect "h2's messages are not touched" 2500 "$(q "SELECT count(*) FROM mq.q_h2")"

# --- 4. privileges ---------------------------------------------------------------------
got=$("$PGBIN/psql" -X -qAt -h 127.0.0.1 -p "$PORT" -U hs_stranger -d "$DB" \
    -c "SELECT count(*) FROM mq.trace('h1', $m1)" 2>&1 || true)
case $got in
*"permission denied to trace messages of queue \"h1\""*) echo "ok: mq.trace refused to a role without consume or manage" ;;
*) fail "mq.trace as hs_stranger: $got" ;;
esac
echo "history.sh: all checks passed"
