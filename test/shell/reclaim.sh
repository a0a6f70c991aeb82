#!/usr/bin/env bash
# The worker vacuums queue tables on a short deadline (src/reclaim.c), on a
# preloaded cluster of our own with autovacuum off, so that every vacuum
# seen here is the worker's:
#   1. 20,000 send/read/ack cycles (pgbench, 4 clients) on a queue of
#      10,000 messages: the worker vacuums its table while it churns; the
#      table ends no larger than twice its start and every message is
#      still there;
#   1b. the same on a queue of 3 partitions: every partition's table is
#      vacuumed;
#   2. a plain table churned the same way is not vacuumed (the worker
#      touches queue tables only);
#   3. mq.vacuum_naptime = 0 turns it off (dead rows stay), and back on
#      the worker catches up within seconds;
#   4. while a snapshot is held, the worker vacuums at most once (vacuum
#      can remove nothing while the horizon stands still), and the dead
#      rows stay; once the snapshot is let go it vacuums them away;
#   5. a queue whose table lock someone holds is skipped without waiting:
#      another queue is still vacuumed meanwhile;
#   6. no ERROR, PANIC or assertion failure in the server log.
# Waits are bounded polls.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/test/lib.sh"
W=${1:?usage: reclaim.sh WORKDIR}
C=$W/cluster
PORT=$(free_port)
DB=reclaim
BG_PIDS=()

cleanup() {
    local p
    for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    cluster_stop "$C" fast
    cluster_stop "$C" immediate
}
trap cleanup EXIT
trap 'echo "reclaim.sh: command failed at line $LINENO: $BASH_COMMAND" >&2' ERR

mkdir -p "$W"
cluster_init "$C" "$PORT" yes
{
    echo "autovacuum = off"
    echo "mq.vacuum_naptime = 1"
    echo "mq.vacuum_threshold = 1000"
    echo "mq.worker_naptime = 2"
} | as_pg tee -a "$C/data/postgresql.conf" >/dev/null
cluster_start "$C"
psql_ -d postgres -c "CREATE DATABASE $DB"
q "CREATE EXTENSION mq"
q "SELECT mq.create_queue('c')" >/dev/null
q "SELECT mq.create_queue('d')" >/dev/null
q "CREATE TABLE plain (id bigserial PRIMARY KEY, v int)"

# stat REL FIELD: a pg_stat_user_tables figure, after the backends' reports.
stat() { q "SELECT $2 FROM pg_stat_user_tables WHERE relid = '$1'::regclass"; }
size() { q "SELECT pg_total_relation_size('$1')"; }
# wait_for WHAT SQL: poll (30 s at most) until SQL returns t.
wait_for() {
    local i
    for i in $(seq 1 60); do
        [ "$(q "$2")" = t ] && { echo "ok: $1 (after ~$((i / 2)) s)"; return 0; }
        sleep 0.5
    done
    fail "$1: not within 30 s ($2)"
}

# session NAME FD: a psql session in the background, fed through fd FD.
session() {
    mkfifo "$W/$1.in"
    psql_ -d "$DB" <"$W/$1.in" >"$W/$1.out" 2>&1 &
    BG_PIDS+=($!)
    eval "exec $2>\"\$W/$1.in\""
}
# cleaned REL COUNT: SQL that is true once REL was vacuumed more than COUNT
# times in all and has fewer dead rows than the threshold.
cleaned() {
    echo "SELECT vacuum_count > $2 AND n_dead_tup < 1000 FROM pg_stat_user_tables WHERE relid = '$1'::regclass"
}

cycle() {   # cycle QUEUE FILE: a pgbench script of one send/read/ack cycle
    cat >"$2" <<EOF
SELECT mq.send('$1', '{"k": 1}');
BEGIN;
SELECT mq.ack('$1', id) FROM mq.read('$1', 1, interval '30 seconds');
COMMIT;
EOF
}
cycle c "$W/cycle_c.sql"
cycle d "$W/cycle_d.sql"
cat >"$W/plain.sql" <<'EOF'
INSERT INTO plain (v) VALUES (1);
DELETE FROM plain WHERE id = (SELECT min(id) FROM plain);
EOF
bench() {   # bench FILE TXNS_PER_CLIENT
    "$PGBIN/pgbench" -n -h 127.0.0.1 -p "$PORT" -U postgres -c 4 -t "$2" -f "$1" "$DB" >"$W/pgbench.log" 2>&1 \
        || { cat "$W/pgbench.log" >&2; fail "pgbench $1"; }
}

# --- 1. churn -----------------------------------------------------------
q "SELECT count(*) FROM mq.send_batch('c', (SELECT array_agg(jsonb_build_object('i', g)) FROM generate_series(1, 10000) g))" >/dev/null
q "SELECT pg_stat_force_next_flush()" >/dev/null
s0=$(size mq.q_c)
bench "$W/cycle_c.sql" 5000
wait_for "the worker vacuumed queue c while it churned" "$(cleaned mq.q_c 0)"
s1=$(size mq.q_c)
echo "queue c: $s0 bytes before, $s1 after 20,000 cycles, $(stat mq.q_c vacuum_count) vacuums"
[ "$s1" -le $((2 * s0)) ] || fail "queue c grew from $s0 to $s1 bytes (more than twice)"
expect "no message lost or added by the vacuums" 10000 "$(q "SELECT count(*) FROM mq.q_c")"
expect "autovacuum never ran" 0 "$(q "SELECT sum(autovacuum_count) FROM pg_stat_user_tables")"

# --- 1b. a queue of 3 partitions: each partition's table is vacuumed -------
q "SELECT mq.create_queue('pc', partitions => 3)" >/dev/null
q "DO \$\$ BEGIN FOR g IN 1 .. 3 LOOP
     PERFORM count(*) FROM mq.send_batch('pc', (SELECT array_agg(jsonb_build_object('i', i)) FROM generate_series(1, 3000) i));
     COMMIT; END LOOP; END \$\$"
cycle pc "$W/cycle_pc.sql"
bench "$W/cycle_pc.sql" 4000
for t in mq.q_pc mq.q1_pc mq.q2_pc; do
    wait_for "the worker vacuumed partition table $t" "$(cleaned $t 0)"
done
expect "no message of the partitioned queue lost or added" 9000 \
    "$(q "SELECT depth + in_flight + delayed FROM mq.queues WHERE queue_name = 'pc'")"

# --- 2. a plain table is not the worker's business -------------------------
q "INSERT INTO plain (v) SELECT 1 FROM generate_series(1, 1000)"
bench "$W/plain.sql" 3000
sleep 3
q "SELECT pg_stat_force_next_flush()" >/dev/null
expect "plain table not vacuumed" 0 "$(stat plain vacuum_count)"
dead=$(stat plain n_dead_tup)
[ "$dead" -ge 2000 ] || fail "plain table: expected its dead rows to stay, n_dead_tup $dead"
echo "ok: plain table keeps its $dead dead rows"

# --- 3. off and on again -------------------------------------------------------
v0=$(stat mq.q_c vacuum_count)
q "ALTER SYSTEM SET mq.vacuum_naptime = 0" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
sleep 2
v0=$(stat mq.q_c vacuum_count)
bench "$W/cycle_c.sql" 2500
sleep 4
expect "mq.vacuum_naptime = 0: no vacuum" "$v0" "$(stat mq.q_c vacuum_count)"
dead=$(stat mq.q_c n_dead_tup)
[ "$dead" -ge 2000 ] || fail "queue c: expected dead rows to stay while off, n_dead_tup $dead"
echo "ok: queue c keeps $dead dead rows while off"
q "ALTER SYSTEM RESET mq.vacuum_naptime" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
wait_for "back on, the worker vacuums queue c" "$(cleaned mq.q_c "$v0")"

# --- 4. a held snapshot ------------------------------------------------------
session holder 7
echo "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT txid_current(); SELECT count(*) FROM mq.q_c;" >&7
wait_for "the holder has its snapshot" \
    "SELECT count(*) = 1 FROM pg_stat_activity WHERE datname = '$DB' AND backend_xmin IS NOT NULL AND state = 'idle in transaction'"
v1=$(stat mq.q_c vacuum_count)
bench "$W/cycle_c.sql" 2500
sleep 5
q "SELECT pg_stat_force_next_flush()" >/dev/null
v2=$(stat mq.q_c vacuum_count)
dead=$(stat mq.q_c n_dead_tup)
echo "held snapshot: $((v2 - v1)) vacuums during and 5 s after 10,000 cycles, n_dead_tup $dead"
[ $((v2 - v1)) -le 1 ] || fail "the worker vacuumed $((v2 - v1)) times while vacuum could remove nothing"
[ "$dead" -ge 2000 ] || fail "dead rows removed under a held snapshot? n_dead_tup $dead"
expect "reads under the held snapshot lost nothing" 10000 "$(q "SELECT count(*) FROM mq.q_c")"
echo "COMMIT;" >&7
exec 7>&-
wait_for "snapshot let go: the worker vacuums the dead rows" "$(cleaned mq.q_c "$v2")"

# --- 5. a locked queue is skipped, not waited for -----------------------------
session locker 8
echo "BEGIN; LOCK TABLE mq.q_c IN ACCESS EXCLUSIVE MODE; SELECT 'locked';" >&8
wait_for "queue c's table is locked" \
    "SELECT count(*) = 1 FROM pg_locks WHERE relation = 'mq.q_c'::regclass AND mode = 'AccessExclusiveLock' AND granted"
vd=$(stat mq.q_d vacuum_count)
bench "$W/cycle_d.sql" 2000
wait_for "queue d is vacuumed while c is locked" \
    "SELECT vacuum_count > $vd FROM pg_stat_user_tables WHERE relid = 'mq.q_d'::regclass"
expect "the worker waits on no lock" 0 \
    "$(q "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'mq worker' AND wait_event_type = 'Lock'")"
echo "COMMIT;" >&8
exec 8>&-

# --- 6. the log ------------------------------------------------------------------
if grep -E "ERROR|PANIC|TRAP" "$C/server.log" | grep -v "canceling statement" >&2; then
    fail "errors in the server log"
fi
echo "ok: no ERROR, PANIC or TRAP in the server log"
echo "reclaim.sh: all checks passed"
