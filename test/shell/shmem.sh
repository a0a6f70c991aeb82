#!/usr/bin/env bash
# mq's shared memory over many queue lifetimes, on a preloaded cluster of our
# own with mq.max_queues = 16 (the read cursors' shared state is sized once,
# at startup, for that many queues):
#   0. on the fresh server, the most locks one transaction can take (the
#      lock table grows into the server's spare shared memory, so anything
#      that eats spare memory shows up as fewer locks); N, just below it, is
#      what must still be possible after the cycles.  The server is then
#      restarted, so the cycles start from fresh shared memory again;
#   1. 3,000 cycles of create queue / send / read / ack / drop, in 4
#      concurrent sessions that each keep at most 5 queues, so up to 20
#      queues exist at once (more than mq.max_queues); every round trip
#      must return the message just sent;
#   a. the server's free shared memory after the cycles equals what it was
#      before them (no per-queue allocation that dropping leaves behind);
#   b. with 16 + 4 queues existing at once, every queue works;
#   c. the log says "mq cannot track queue" exactly once over the whole run;
#   d. after dropping everything, 16 new queues work, and a read waiting
#      on one of them returns a message sent from another session 1 s
#      later (the delay is printed, not asserted);
#   e. one transaction still takes N locks (and the most it can take is
#      printed next to the fresh server's).
# Locks are taken with pg_advisory_xact_lock: they use the same shared lock
# table as LOCK TABLE (one LOCK and one PROCLOCK entry each) without
# needing thousands of tables.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/test/lib.sh"
W=${1:?usage: shmem.sh WORKDIR}
C=$W/shmem_cluster
PORT=$(free_port)
DB=mq_shmem
CYCLES=${SHMEM_CYCLES:-3000}
SESSIONS=4
RING=5                      # queues each session keeps: SESSIONS * RING = 20
MAX_QUEUES=16
FREE_TOLERANCE=4096         # bytes the free shared memory may end up lower
BG_PIDS=()
T0=$SECONDS

cleanup() {
    local p
    for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    cluster_stop "$C" fast
    cluster_stop "$C" immediate
}
trap cleanup EXIT
trap 'echo "shmem.sh: command failed at line $LINENO: $BASH_COMMAND" >&2' ERR

# fail, psql_, q, expect: test/lib.sh
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
free_shmem() { q "SELECT size FROM pg_shmem_allocations WHERE name IS NULL"; }

# locks_ok N: can one transaction hold N locks at once?
locks_ok() {
    q "SELECT count(pg_advisory_xact_lock(i)) FROM generate_series(1, $1) i" >/dev/null 2>"$W/locks.err" && return 0
    grep -q "out of shared memory" "$W/locks.err" || fail "taking $1 locks failed otherwise: $(cat "$W/locks.err")"
    return 1
}
# max_locks: the most locks one transaction can hold (to 16), by bisection.
max_locks() {
    local lo=100 hi=400000 mid
    locks_ok "$lo" || fail "cannot even take $lo locks"
    ! locks_ok "$hi" || fail "took $hi locks: the lock table does not seem to be bounded"
    while [ $((hi - lo)) -gt 16 ]; do
        mid=$(( (lo + hi) / 2 ))
        if locks_ok "$mid"; then lo=$mid; else hi=$mid; fi
    done
    echo "$lo"
}

cluster_init "$C" "$PORT" yes
echo "mq.max_queues = $MAX_QUEUES" | as_pg tee -a "$C/data/postgresql.conf" >/dev/null
cluster_start "$C" || { cat "$C/server.log"; exit 1; }
echo "cluster up on port $PORT"
psql_ -d postgres -c "CREATE DATABASE $DB"
q "CREATE EXTENSION mq"
expect "mq.max_queues" "$MAX_QUEUES" "$(q "SHOW mq.max_queues")"
expect "max_locks_per_transaction" 64 "$(q "SHOW max_locks_per_transaction")"
expect "max_connections" 150 "$(q "SHOW max_connections")"

########################################################################
echo "== 0. locks on the fresh server"
M_FRESH=$(max_locks)
N=$(( M_FRESH - M_FRESH / 100 ))
locks_ok "$N" || fail "a fresh server cannot take $N locks"
echo "ok: a fresh server takes at most $M_FRESH locks in one transaction; N = $N"
# Start the cycles from fresh shared memory: the probe grew the lock table.
cluster_stop "$C" fast
cluster_start "$C" || fail "restart failed"
FREE_BEFORE=$(free_shmem)
MQ_SHMEM=$(q "SELECT coalesce(sum(allocated_size), 0) FROM pg_shmem_allocations WHERE name ILIKE 'mq%'")
echo "free shared memory before the cycles: $FREE_BEFORE bytes (mq's own allocations: $MQ_SHMEM bytes)"

########################################################################
echo "== 1. $CYCLES queue cycles in $SESSIONS sessions, up to $((SESSIONS * RING)) queues at once"
per=$(( CYCLES / SESSIONS ))
t0=$(now_ms)
for s in $(seq 1 "$SESSIONS"); do
    # Queue s<s>_<k> (k = cycle mod RING) is dropped and created again each
    # time its turn comes; each step commits on its own.
    psql_ -d "$DB" >"$W/cycles_$s.out" 2>&1 <<EOF &
DO \$\$
DECLARE
    i int;
    name text;
    sent bigint;
    got bigint;
    body jsonb;
BEGIN
    FOR i IN 0..$((per - 1)) LOOP
        name := format('s%s_%s', $s, i % $RING);
        IF i >= $RING THEN
            PERFORM mq.drop_queue(name);
            COMMIT;
        END IF;
        PERFORM mq.create_queue(name);
        COMMIT;
        sent := mq.send(name, jsonb_build_object('s', $s, 'i', i));
        COMMIT;
        SELECT r.id, r.payload INTO got, body FROM mq.read(name, 1) r;
        IF got IS DISTINCT FROM sent OR (body->>'i')::int IS DISTINCT FROM i THEN
            RAISE EXCEPTION 'session $s, cycle %: read % % from queue %, expected message %', i, got, body, name, sent;
        END IF;
        IF NOT mq.ack(name, got) THEN
            RAISE EXCEPTION 'session $s, cycle %: ack of % in queue % returned false', i, got, name;
        END IF;
        COMMIT;
    END LOOP;
    FOR i IN 0..$((RING - 1)) LOOP
        PERFORM mq.drop_queue(format('s%s_%s', $s, i), if_exists => true);
    END LOOP;
    COMMIT;
END
\$\$;
EOF
    BG_PIDS+=("$!")
done
rc=0
for p in "${BG_PIDS[@]}"; do wait "$p" || rc=1; done
BG_PIDS=()
CYCLE_MS=$(( $(now_ms) - t0 ))
if [ "$rc" != 0 ]; then
    cat "$W"/cycles_*.out >&2
    fail "a cycle session failed"
fi
echo "ok: $((per * SESSIONS)) cycles in $CYCLE_MS ms, every round trip returned its message"
expect "queues left after the cycles" 0 "$(q "SELECT count(*) FROM mq.queue")"
expect "queue tables left after the cycles" 0 \
    "$(q "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'mq' AND c.relname ~ '^[qa]_'")"

########################################################################
echo "== a. free shared memory"
FREE_AFTER=$(free_shmem)
echo "free shared memory: before $FREE_BEFORE, after $FREE_AFTER bytes (difference $((FREE_BEFORE - FREE_AFTER)))"
[ "$FREE_AFTER" -le "$FREE_BEFORE" ] || echo "note: more free shared memory after the cycles than before"
[ $((FREE_BEFORE - FREE_AFTER)) -le "$FREE_TOLERANCE" ] \
    || fail "free shared memory fell by $((FREE_BEFORE - FREE_AFTER)) bytes over $CYCLES queue cycles (tolerance $FREE_TOLERANCE)"
echo "ok: free shared memory unchanged (within $FREE_TOLERANCE bytes)"

########################################################################
# round_trip PREFIX COUNT: COUNT queues PREFIX01.., each with a message sent,
# read back and acked, all existing at once.
round_trip() {
    local prefix=$1 count=$2 out
    out=$(q "DO \$\$
DECLARE
    k int;
    name text;
    sent bigint;
    got bigint;
    body jsonb;
BEGIN
    FOR k IN 1..$count LOOP
        PERFORM mq.create_queue(format('${prefix}%s', lpad(k::text, 2, '0')));
    END LOOP;
    COMMIT;
    FOR k IN 1..$count LOOP
        name := format('${prefix}%s', lpad(k::text, 2, '0'));
        sent := mq.send(name, jsonb_build_object('k', k));
        COMMIT;
        SELECT r.id, r.payload INTO got, body FROM mq.read(name, 1) r;
        IF got IS DISTINCT FROM sent OR (body->>'k')::int IS DISTINCT FROM k THEN
            RAISE EXCEPTION 'queue %: read % %, expected message %', name, got, body, sent;
        END IF;
        IF NOT mq.ack(name, got) THEN
            RAISE EXCEPTION 'queue %: ack of % returned false', name, got;
        END IF;
        COMMIT;
    END LOOP;
END
\$\$" 2>&1) || fail "round trip on $count queues at once failed: $out"
}

echo "== b. $MAX_QUEUES + 4 queues at once"
round_trip b $((MAX_QUEUES + 4))
expect "queues existing at once" $((MAX_QUEUES + 4)) "$(q "SELECT count(*) FROM mq.queue")"
echo "ok: send/read/ack round trip on each of $((MAX_QUEUES + 4)) queues"
q "DO \$\$ DECLARE r record; BEGIN FOR r IN SELECT queue_name FROM mq.queue LOOP PERFORM mq.drop_queue(r.queue_name); END LOOP; END \$\$"
expect "queues left" 0 "$(q "SELECT count(*) FROM mq.queue")"

########################################################################
echo "== d. $MAX_QUEUES new queues after dropping everything"
round_trip f "$MAX_QUEUES"
echo "ok: send/read/ack round trip on each of $MAX_QUEUES new queues"
# A read waiting on f01; the message is sent from another session 1 s
# after the read started waiting.
WAITQ=f01
t_start=$(now_ms)
PGAPPNAME=shmem_waiter psql_ -d "$DB" -c "SELECT id FROM mq.read('$WAITQ', 1, wait => '5 seconds')" >"$W/waiter.out" 2>&1 &
WAITER=$!
BG_PIDS+=("$WAITER")
for i in $(seq 1 100); do
    [ -n "$(q "SELECT 1 FROM pg_stat_activity WHERE application_name = 'shmem_waiter' AND state = 'active' AND wait_event_type = 'Extension'")" ] && break
    [ "$i" = 100 ] && fail "the read on $WAITQ did not start waiting within 10 s"
    sleep 0.1
done
sleep 1
t_send=$(now_ms)
SENT=$(q "SELECT mq.send('$WAITQ', '{\"wake\": true}')")
wait "$WAITER" || { cat "$W/waiter.out" >&2; fail "the waiting read on $WAITQ failed"; }
t_end=$(now_ms)
BG_PIDS=()
GOT=$(cat "$W/waiter.out")
[ -n "$GOT" ] || fail "the waiting read on $WAITQ returned no row (message $SENT sent 1 s after it began waiting)"
expect "the waiting read's message" "$SENT" "$GOT"
WAKE_MS=$((t_end - t_send))
echo "ok: waiting read on $WAITQ returned message $SENT $WAKE_MS ms after the send ($((t_end - t_start)) ms after the read began; wait was 5 s)"
q "SELECT mq.ack('$WAITQ', $SENT)" >/dev/null
q "DO \$\$ DECLARE r record; BEGIN FOR r IN SELECT queue_name FROM mq.queue LOOP PERFORM mq.drop_queue(r.queue_name); END LOOP; END \$\$"
FREE_END=$(free_shmem)
echo "free shared memory after b and d: $FREE_END bytes"

########################################################################
echo "== e. locks after the cycles"
locks_ok "$N" || fail "after $CYCLES queue cycles one transaction cannot take $N locks (a fresh server took $M_FRESH)"
M_AFTER=$(max_locks)
echo "ok: $N locks in one transaction after the cycles; at most $M_AFTER now, $M_FRESH on the fresh server"

########################################################################
echo "== c. the log"
TRACK=$(grep -c "mq cannot track queue" "$C/server.log" || true)
grep "mq cannot track queue" "$C/server.log" | sed 's/^/    /' || true
expect "'mq cannot track queue' lines in the server log" 1 "$TRACK"
bad=$(grep -E 'PANIC|TRAP:|ERROR:' "$C/server.log" | grep -v "out of shared memory" || true)
[ -z "$bad" ] || fail "unexpected errors in the server log: $bad"
echo "ok: no PANIC, TRAP or ERROR in the server log (besides the lock probes' \"out of shared memory\")"

echo "shmem ok: $CYCLES cycles in $CYCLE_MS ms; free shmem before $FREE_BEFORE, after $FREE_AFTER, at end $FREE_END; locks N $N, max fresh $M_FRESH, after $M_AFTER; 'cannot track' logged $TRACK time; waiting read woke $WAKE_MS ms after the send; $((SECONDS - T0)) s"
