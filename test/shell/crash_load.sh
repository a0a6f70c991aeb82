#!/usr/bin/env bash
# Crash under load, counted as RabbitMQ's Jepsen checker does, on a cluster
# of our own (fsync = on) that we keep killing:
#   1. a consumer killed inside its read transaction loses its lease, and the
#      message is delivered again at once (not after its 1-hour lease), with
#      its delivery count back where it was: once by SIGKILL of its backend
#      (the postmaster crash-restarts every backend), once by
#      pg_terminate_backend (no crash restart);
#   2. 4 producers send numbered messages, one per transaction (two with
#      BEGIN/send/COMMIT, two with autocommit sends), while 3 consumers
#      (one of them slow, holding each transaction open for 0.3 s) insert
#      one ledger row per message into `effects` and ack in the same
#      transaction; meanwhile backends are SIGKILLed (a slow consumer in the
#      middle of its transaction, a producer, a consumer) and the server is
#      stopped with `-m immediate` and started again, 4 times each, and
#      consumers are ended twice with pg_terminate_backend (no restart).
#      Fast consumers also abandon a lease now and then (it expires after
#      the queue's 2 s) or roll back after the effect;
#   3. the queue is drained on the running server (so a message the shared
#      read position skipped would be found stuck), stays empty over a
#      clean restart, then the checker counts:
#      a send is acked only once its COMMIT returned, in doubt if the
#      connection died during COMMIT, failed if it died before COMMIT was
#      sent. lost (acked, no effect), unexpected (effect of a send never
#      attempted or known failed) and duplicated (n with two effects) must
#      be 0; recovered (in doubt, delivered) and redeliveries (reads with
#      deliveries > 1, and re-reads of an id after a kill or rollback) are
#      allowed and reported. Every message a consumer was killed holding is
#      consumed later, the queue ends empty, and the server log shows the
#      crash restarts and immediate stops we caused and no other crash.
# The load driver is test/shell/crash_load.c (compiled into the work dir).
# MQ_CRASH_PARTITIONS=N runs part 2 and 3 on a queue of N partitions
# (crash_load_parts.sh: 3).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/test/lib.sh"
W=${1:?usage: crash_load.sh WORKDIR}
C=$W/cluster
PORT=$(free_port)
DB=mq_crash_load
CONN="host=127.0.0.1 port=$PORT user=postgres dbname=$DB"
BIN=$W/crash_load
NPROD=4
NCONS=3
BG_PIDS=()
SIGKILLS=0
STOPS=0
TERMS=0
mkdir -p "$W"

cleanup() {
    local p
    touch "$W/stop" 2>/dev/null || true
    for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    cluster_stop "$C" immediate
}
trap cleanup EXIT
trap 'echo "crash_load.sh: command failed at line $LINENO: $BASH_COMMAND" >&2' ERR

# fail, psql_, q, expect: test/lib.sh
loglines() { grep -c "$1" "$C/server.log" || true; }

wait_gone() {   # bounded wait until background process $1 has exited
    local pid=$1 i
    for i in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    fail "background process $pid did not exit"
}

wait_for() {   # wait_for WHAT SQL: until SQL returns a non-empty result; print it
    local i out
    for i in $(seq 1 600); do
        out=$(q "$2" 2>/dev/null || true)
        if [ -n "$out" ]; then echo "$out"; return 0; fi
        sleep 0.05
    done
    fail "timed out waiting for $1"
}

wait_up() {   # until the server accepts connections again
    local i
    for i in $(seq 1 600); do
        if psql_ -d "$DB" -c "SELECT 1" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    fail "server did not accept connections within 60 s"
}

# SIGKILL backend $2 (what: $1), wait for the postmaster's crash restart.
sigkill_backend() {
    local what=$1 victim=$2 logpos i
    logpos=$(wc -l < "$C/server.log")
    kill -9 "$victim"
    SIGKILLS=$((SIGKILLS + 1))
    for i in $(seq 1 600); do
        if tail -n +"$((logpos + 1))" "$C/server.log" | grep -q "all server processes terminated; reinitializing"; then break; fi
        [ "$i" = 600 ] && fail "postmaster did not crash-restart after SIGKILL of $what $victim"
        sleep 0.1
    done
    wait_up
    echo "SIGKILL #$SIGKILLS: $what backend $victim, server back ($((SECONDS - T0)) s)"
}

# pg_terminate_backend($2) (what: $1): the backend exits, nothing restarts.
terminate_backend() {
    local what=$1 victim=$2 restarts
    restarts=$(loglines "all server processes terminated; reinitializing")
    [ "$(q "SELECT pg_terminate_backend($victim)")" = t ] || fail "pg_terminate_backend($victim) failed"
    TERMS=$((TERMS + 1))
    [ "$(loglines "all server processes terminated; reinitializing")" = "$restarts" ] \
        || fail "pg_terminate_backend of $what $victim caused a crash restart"
    echo "pg_terminate_backend #$TERMS: $what backend $victim, no crash restart ($((SECONDS - T0)) s)"
}

immediate_restart() {
    local before
    before=$(loglines "automatic recovery in progress")
    as_pg "$PGBIN/pg_ctl" -D "$C/data" -m immediate -w -t 60 stop >/dev/null
    STOPS=$((STOPS + 1))
    sleep 0.3   # let the clients find the server gone
    cluster_start "$C" || fail "start after stop -m immediate failed"
    [ "$(loglines "automatic recovery in progress")" -gt "$before" ] || fail "no crash recovery after stop -m immediate"
    wait_up
    echo "stop -m immediate #$STOPS, server back ($((SECONDS - T0)) s)"
}

cluster_init "$C" "$PORT" yes
echo "fsync = on" | as_pg tee -a "$C/data/postgresql.conf" >/dev/null
cluster_start "$C" || { cat "$C/server.log"; exit 1; }
psql_ -d postgres -c "CREATE DATABASE $DB"
q "CREATE EXTENSION mq"
[ "$(psql_ -d postgres -c "SHOW fsync")" = on ] || fail "fsync is not on"
gcc -Wall -Wextra -Werror -O2 -o "$BIN" "$here/test/shell/crash_load.c" -I/usr/include/postgresql -lpq \
    || fail "crash_load.c does not compile cleanly"
T0=$SECONDS

########################################################################
# 1. a consumer killed inside its transaction loses its lease
########################################################################
q "SELECT mq.create_queue('lease', visibility_timeout => '1 hour')" >/dev/null
q "CREATE TABLE lease_effects (msg_id bigint, deliveries int)"
lease_case() {   # lease_case KEY HOW(sigkill|terminate)
    local key=$1 how=$2 id cons victim restarts out
    id=$(q "SELECT mq.send('lease', jsonb_build_object('k', '$key'))")
    printf '%s\n' "BEGIN;" \
        "WITH r AS (SELECT * FROM mq.read('lease', 1)) INSERT INTO lease_effects SELECT id, deliveries FROM r;" \
        "SELECT pg_sleep(600);" > "$W/lease_$key.sql"
    PGAPPNAME=lease_$key psql_ -d "$DB" -f "$W/lease_$key.sql" >"$W/lease_$key.out" 2>&1 &
    cons=$!
    BG_PIDS+=("$cons")
    victim=$(wait_for "consumer $key to sleep inside its transaction" \
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'lease_$key' AND wait_event = 'PgSleep' AND backend_xid IS NOT NULL")
    expect "$key: the consumer holds message $id; another reader gets nothing" 0 \
        "$(q "SELECT count(*) FROM mq.read('lease', 10)")"
    restarts=$(loglines "all server processes terminated; reinitializing")
    if [ "$how" = sigkill ]; then
        sigkill_backend "consumer $key (inside its read transaction)" "$victim"
    else
        expect "$key: pg_terminate_backend($victim)" t "$(q "SELECT pg_terminate_backend($victim)")"
    fi
    wait_gone "$cons"
    if [ "$how" = terminate ]; then
        expect "$key: no crash restart after pg_terminate_backend" "$restarts" "$(loglines "all server processes terminated; reinitializing")"
        grep -q "terminating connection due to administrator command" "$W/lease_$key.out" \
            || fail "$key: the consumer was not told it was terminated: $(cat "$W/lease_$key.out")"
    fi
    expect "$key: the killed transaction's effect is gone" 0 "$(q "SELECT count(*) FROM lease_effects WHERE msg_id = $id")"
    # pg_terminate_backend rolls the transaction back: the delivery counts
    # (the worker records it); a crash restart forgets it (rollback.c)
    local counted=0
    if [ "$how" = terminate ]; then
        counted=1
        wait_for "the worker to record $key's rolled-back delivery" \
            "SELECT 1 FROM mq.queues WHERE queue_name = 'lease' AND rollbacks >= 1" >/dev/null
    fi
    out=$(q "SELECT deliveries || '|' || failures || '|' || leased || '|' || (vt <= now()) FROM mq.q_lease WHERE id = $id")
    expect "$key: message $id after the kill: deliveries|failures|leased|visible (the read rolled back)" "$counted|$counted|false|true" "$out"
    expect "$key: delivered again at once, effect and ack commit" "$id|$((counted + 1))|true" \
        "$(q "WITH r AS (SELECT * FROM mq.read('lease', 1)), ins AS (INSERT INTO lease_effects SELECT id, deliveries FROM r)
              SELECT id || '|' || deliveries || '|' || mq.ack('lease', id) FROM r")"
    expect "$key: exactly one effect for message $id" 1 "$(q "SELECT count(*) FROM lease_effects WHERE msg_id = $id")"
}
lease_case a sigkill
lease_case b terminate
expect "lease queue empty" 0 "$(q "SELECT count(*) FROM mq.q_lease")"
echo "part 1 ok ($((SECONDS - T0)) s)"

########################################################################
# 2. producers and consumers under SIGKILLs and immediate stops
########################################################################
PARTS=${MQ_CRASH_PARTITIONS:-1}
q "SELECT mq.create_queue('jq', visibility_timeout => '2 seconds', partitions => $PARTS)" >/dev/null
# Messages left in jq, in every partition.
JQ_LEFT="(SELECT depth + in_flight + delayed FROM mq.queues WHERE queue_name = 'jq')"
q "CREATE TABLE effects (n bigint NOT NULL, msg_id bigint NOT NULL, deliveries int NOT NULL, consumer text, at timestamptz DEFAULT now())"
rm -f "$W"/prod.* "$W"/reads.* "$W"/killed.* "$W/anomalies" "$W/stop"
"$BIN" load "$CONN" "$W" "$NPROD" "$NCONS" >"$W/load.out" 2>"$W/load.err" &
LOADER=$!
BG_PIDS+=("$LOADER")

acked_so_far() { { cat "$W"/prod.* 2>/dev/null || true; } | grep -c ' A$' || true; }
reads_so_far() { { cat "$W"/reads.* 2>/dev/null || true; } | wc -l; }
# Bounded wait until producers got 100 more acks and consumers 100 more reads.
wait_progress() {
    local a0 r0 i
    a0=$(acked_so_far); r0=$(reads_so_far)
    for i in $(seq 1 600); do
        kill -0 "$LOADER" 2>/dev/null || { cat "$W/load.out" "$W/load.err"; fail "the load driver exited early"; }
        if [ "$(acked_so_far)" -ge $((a0 + 100)) ] && [ "$(reads_so_far)" -ge $((r0 + 100)) ]; then return 0; fi
        sleep 0.1
    done
    fail "no progress within 60 s (acked $(acked_so_far), reads $(reads_so_far))"
}
victim_of() {   # victim_of WHAT SQL-WHERE [preferred SQL-WHERE]: a backend pid
    local what=$1 where=$2 prefer=${3:-true} i pid
    for i in $(seq 1 60); do
        pid=$(q "SELECT pid FROM pg_stat_activity WHERE $where AND $prefer ORDER BY random() LIMIT 1" 2>/dev/null || true)
        if [ -n "$pid" ]; then echo "$pid"; return 0; fi
        sleep 0.05
    done
    wait_for "a $what backend" "SELECT pid FROM pg_stat_activity WHERE $where ORDER BY random() LIMIT 1"
}

for fault in kill_slow immediate kill_producer terminate_slow immediate kill_consumer immediate kill_slow terminate_consumer immediate; do
    wait_progress
    sleep 2
    case $fault in
    kill_slow)
        v=$(wait_for "the slow consumer to sleep inside its transaction" \
            "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'cl_slow%' AND wait_event = 'PgSleep' AND backend_xid IS NOT NULL")
        sigkill_backend "slow consumer (mid-transaction)" "$v" ;;
    kill_producer)
        v=$(victim_of producer "application_name LIKE 'cl_prod%'" "state = 'active'")
        sigkill_backend producer "$v" ;;
    kill_consumer)
        v=$(victim_of consumer "application_name LIKE 'cl_cons%'" "backend_xid IS NOT NULL")
        sigkill_backend consumer "$v" ;;
    terminate_slow)
        v=$(wait_for "the slow consumer to sleep inside its transaction" \
            "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'cl_slow%' AND wait_event = 'PgSleep' AND backend_xid IS NOT NULL")
        terminate_backend "slow consumer (mid-transaction)" "$v" ;;
    terminate_consumer)
        v=$(victim_of consumer "application_name LIKE 'cl_cons%'" "backend_xid IS NOT NULL")
        terminate_backend consumer "$v" ;;
    immediate)
        immediate_restart ;;
    esac
done
wait_progress
sleep 2.5
touch "$W/stop"
for i in $(seq 1 600); do
    kill -0 "$LOADER" 2>/dev/null || break
    [ "$i" = 600 ] && fail "the load driver did not stop within 60 s"
    sleep 0.1
done
wait "$LOADER" && lrc=0 || lrc=$?
cat "$W/load.out"
[ "$lrc" = 0 ] || { cat "$W/load.err"; fail "the load driver failed (exit $lrc)"; }
echo "part 2 ok: load stopped after $SIGKILLS SIGKILLs, $STOPS immediate stops and $TERMS pg_terminate_backend ($((SECONDS - T0)) s)"

########################################################################
# 3. drain, clean restart, check
########################################################################
# Drain on the running server first: a message the shared read position had
# skipped would stay unread here (a restart would hide that by starting
# reads from the head of the queue again).
if ! "$BIN" drain "$CONN" "$W" 2 >"$W/drain.out" 2>&1; then
    cat "$W/drain.out"
    q "SELECT * FROM mq.peek('jq', 20)" >&2 || true
    fail "the drain did not empty the queue"
fi
cat "$W/drain.out"
expect "queue jq empty after the drain" 0 "$(q "SELECT $JQ_LEFT")"
cluster_stop "$C" fast
cluster_start "$C" || fail "clean restart failed"
expect "queue jq still empty after a clean restart; a read gets nothing" "0|0" \
    "$(q "SELECT $JQ_LEFT || '|' || (SELECT count(*) FROM mq.read('jq', 100))")"
[ -e "$W/anomalies" ] && { cat "$W/anomalies"; fail "ack anomalies (a message leased to two consumers at once)"; }

q "CREATE TABLE sends (n bigint, status text)"
q "CREATE TABLE reads (msg_id bigint, n bigint, deliveries int)"
q "CREATE TABLE killed (msg_id bigint, n bigint)"
cat "$W"/prod.* | psql_ -d "$DB" -c "COPY sends FROM STDIN (DELIMITER ' ')"
cat "$W"/reads.* | psql_ -d "$DB" -c "COPY reads FROM STDIN (DELIMITER ' ')"
cat "$W"/killed.* | psql_ -d "$DB" -c "COPY killed FROM STDIN (DELIMITER ' ')"
expect "every attempted n has exactly one outcome" 0 "$(q "SELECT count(*) - count(DISTINCT n) FROM sends")"

IFS='|' read -r ACKED IN_DOUBT FAILED LOST RECOVERED UNEXPECTED DUPLICATED DUP_IDS REDELIVERIES REREADS UNCONSUMED KILLED_MSGS KILLED_LOST EFFECTS <<<"$(q "
SELECT (SELECT count(*) FROM sends WHERE status = 'A'),
       (SELECT count(*) FROM sends WHERE status = 'D'),
       (SELECT count(*) FROM sends WHERE status = 'F'),
       (SELECT count(*) FROM sends s WHERE status = 'A' AND NOT EXISTS (SELECT 1 FROM effects e WHERE e.n = s.n)),
       (SELECT count(*) FROM sends s WHERE status = 'D' AND EXISTS (SELECT 1 FROM effects e WHERE e.n = s.n)),
       (SELECT count(*) FROM effects e WHERE NOT EXISTS (SELECT 1 FROM sends s WHERE s.n = e.n AND s.status IN ('A', 'D'))),
       (SELECT count(*) FROM (SELECT n FROM effects GROUP BY n HAVING count(*) > 1) d),
       (SELECT count(*) FROM (SELECT msg_id FROM effects GROUP BY msg_id HAVING count(*) > 1) d),
       (SELECT count(*) FROM reads WHERE deliveries > 1),
       (SELECT count(*) - count(DISTINCT msg_id) FROM reads),
       (SELECT count(DISTINCT msg_id) FROM reads r WHERE NOT EXISTS (SELECT 1 FROM effects e WHERE e.msg_id = r.msg_id)),
       (SELECT count(DISTINCT msg_id) FROM killed),
       (SELECT count(DISTINCT msg_id) FROM killed k WHERE NOT EXISTS (SELECT 1 FROM effects e WHERE e.msg_id = k.msg_id)),
       (SELECT count(*) FROM effects)")"
NOT_DELIVERED=$((IN_DOUBT - RECOVERED))

CRASH_RESTARTS=$(loglines "all server processes terminated; reinitializing")
SIG9=$(loglines "was terminated by signal 9")
IMMEDIATE=$(loglines "received immediate shutdown request")
echo "server log: $CRASH_RESTARTS crash restarts, $SIG9 backends terminated by signal 9, $IMMEDIATE immediate shutdowns"
echo "server log messages (ERROR/FATAL/WARNING/PANIC), by count:"
grep -E '\] (ERROR|FATAL|WARNING|PANIC):' "$C/server.log" | sed -E 's/^.*\] //; s/[0-9]+/N/g' | sort | uniq -c | sort -rn | head -n 20 || true

echo "crash_load: acked=$ACKED in_doubt=$IN_DOUBT failed=$FAILED lost=$LOST recovered=$RECOVERED unexpected=$UNEXPECTED duplicated=$DUPLICATED redeliveries=$REDELIVERIES rereads=$REREADS killed_mid_txn=$KILLED_MSGS crash_restarts=$CRASH_RESTARTS immediate_stops=$STOPS terminated=$TERMS"
echo "    (in doubt, never delivered: $NOT_DELIVERED; effects: $EFFECTS; $((SECONDS - T0)) s)"

if [ "$LOST" != 0 ]; then
    q "SELECT s.n, s.status FROM sends s WHERE status = 'A' AND NOT EXISTS (SELECT 1 FROM effects e WHERE e.n = s.n) ORDER BY n LIMIT 20" >&2
    fail "$LOST acked sends have no effect (lost)"
fi
if [ "$UNEXPECTED" != 0 ]; then
    q "SELECT e.*, s.status FROM effects e LEFT JOIN sends s USING (n) WHERE s.status IS DISTINCT FROM 'A' AND s.status IS DISTINCT FROM 'D' LIMIT 20" >&2
    fail "$UNEXPECTED effects of sends never attempted or known failed (unexpected)"
fi
if [ "$DUPLICATED" != 0 ] || [ "$DUP_IDS" != 0 ]; then
    q "SELECT * FROM effects WHERE n IN (SELECT n FROM effects GROUP BY n HAVING count(*) > 1) ORDER BY n, at LIMIT 40" >&2
    fail "$DUPLICATED n and $DUP_IDS message ids with more than one effect (duplicated)"
fi
expect "messages read but never consumed" 0 "$UNCONSUMED"
[ "$KILLED_MSGS" -gt 0 ] || fail "no consumer was killed while holding messages"
expect "messages a consumer was killed holding, never consumed afterwards" 0 "$KILLED_LOST"
[ "$ACKED" -ge 200 ] || fail "only $ACKED acked sends: the load did not run"
[ "$SIGKILLS" -ge 4 ] && [ "$STOPS" -ge 4 ] && [ "$TERMS" -ge 2 ] || fail "only $SIGKILLS SIGKILLs, $STOPS immediate stops and $TERMS pg_terminate_backend done"
expect "crash restarts in the log = SIGKILLs done" "$SIGKILLS" "$CRASH_RESTARTS"
expect "backends terminated by signal 9 in the log = SIGKILLs done" "$SIGKILLS" "$SIG9"
expect "immediate shutdowns in the log = immediate stops done" "$STOPS" "$IMMEDIATE"
other=$(grep -E "terminated by signal|exited with exit code [^01]|PANIC|TRAP:" "$C/server.log" | grep -v "terminated by signal 9" || true)
[ -z "$other" ] || fail "unexpected crash in the server log: $other"

echo "crash_load test ok in $((SECONDS - T0)) s"
