#!/usr/bin/env bash
# mq's launcher and per-database workers (src/worker.c), on a preloaded
# cluster of our own with mq.launcher_naptime = 1:
#   1. the launcher runs ("mq launcher" in pg_stat_activity);
#   2. CREATE EXTENSION mq starts a worker for that database; a database
#      without the extension ends up with none, and is left alone;
#   3. a SIGHUP (mq.worker_naptime) keeps the worker; delayed-message wake
#      still works;
#   3b. in queues nobody reads any more, the worker records an expired
#      lease as a failed delivery (and counts it), and dead-letters a
#      message whose last allowed lease expired;
#   3c. a trigger planted on a queue table (one that makes its creator a
#      superuser when a superuser fires it) never runs in the worker's
#      sweep, and a queue whose table was replaced by a view does not stop
#      the worker: both are skipped and logged once, the other queues are
#      still swept, the worker keeps its pid; undone, they are swept again;
#   3d. a drop of a queue held open in a transaction does not stall the
#      worker: it skips that queue and sweeps the next;
#   4. pg_terminate_backend of the worker: the launcher starts a new one;
#      delayed-message wake works with it;
#   5. DROP EXTENSION mq makes the worker leave (and stay away); CREATE
#      EXTENSION brings it back, also right after a DROP;
#   6. ALTER DATABASE RENAME and CREATE DATABASE ... TEMPLATE are not
#      blocked by the worker, and the worker comes back afterwards;
#   7. DROP DATABASE is not blocked by the worker (well under the 5 s
#      PostgreSQL waits for other sessions) and leaves no worker behind;
#   8. crash restart (SIGKILL of a backend): launcher and worker come back,
#      delayed-message wake works;
#   9. no PANIC, assertion failure (TRAP) or ERROR in the server log;
#  10. postmaster death: a waiting consumer, the launcher and the worker
#      leave promptly;
#  11. with more databases than mq.max_workers the launcher warns, and a
#      consumer in a database without a worker still gets delayed messages.
# All waits for "within seconds" are bounded polls of up to 30 s.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/test/lib.sh"
W=${1:?usage: worker.sh WORKDIR}
C=$W/cluster
PORT=$(free_port)
BG_PIDS=()

cleanup() {
    local p
    for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    cluster_stop "$C" fast
    cluster_stop "$C" immediate
}
trap cleanup EXIT
trap 'echo "worker.sh: command failed at line $LINENO: $BASH_COMMAND" >&2' ERR

fail() {
    echo "FAIL: $*" >&2
    echo "--- mq processes ---" >&2
    psql_ -d postgres -c "SELECT pid, backend_type, datname, application_name, state, wait_event FROM pg_stat_activity WHERE backend_type LIKE 'mq %' ORDER BY 1" >&2 2>/dev/null || true
    echo "--- server log tail ---" >&2
    tail -n 60 "$C/server.log" >&2 || true
    exit 1
}
psql_() { "$PGBIN/psql" -X -qAt -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres "$@"; }
q() { psql_ -d "$1" -c "$2"; }          # q DB SQL
expect() {   # expect WHAT EXPECTED ACTUAL
    if [ "$2" != "$3" ]; then fail "$1: expected [$2], got [$3]"; fi
    echo "ok: $1 ($3)"
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
T0=$SECONDS

# wait_for WHAT SECS SQL: poll (in database postgres) until SQL returns a
# non-empty result; print it.
wait_for() {
    local what=$1 secs=$2 sql=$3 i out
    for i in $(seq 1 $((secs * 10))); do
        out=$(q postgres "$sql" 2>/dev/null || true)
        if [ -n "$out" ]; then echo "$out"; return 0; fi
        sleep 0.1
    done
    fail "timed out after $secs s waiting for $what"
}
# wait_log WHAT PATTERN: poll until the server log has a line matching
# the (grep -E) PATTERN.
wait_log() {
    local i
    for i in $(seq 1 300); do
        if grep -qE "$2" "$C/server.log"; then echo "ok: log: $1"; return 0; fi
        sleep 0.1
    done
    fail "no log line for $1 (pattern: $2) after 30 s"
}
# wait_none WHAT SECS SQL: poll until SQL returns nothing.
wait_none() {
    local what=$1 secs=$2 sql=$3 i out
    for i in $(seq 1 $((secs * 10))); do
        out=$(q postgres "$sql")
        if [ -z "$out" ]; then return 0; fi
        sleep 0.1
    done
    fail "timed out after $secs s waiting for $what (still: $out)"
}

worker_sql() {   # worker_sql DATNAME [EXCEPT_PID]: pids of its mq workers
    echo "SELECT string_agg(pid::text, ',') FROM pg_stat_activity
          WHERE backend_type = 'mq worker' AND datname = '$1' ${2:+AND pid <> $2}
          HAVING count(*) > 0"
}
launcher_sql="SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE backend_type = 'mq launcher' HAVING count(*) > 0"

# A single worker for DATNAME within 30 s (other than EXCEPT_PID); print its pid.
wait_worker() {   # wait_worker WHAT DATNAME [EXCEPT_PID]
    local pids
    pids=$(wait_for "$1" 30 "$(worker_sql "$2" "${3:-}")")
    [[ "$pids" =~ ^[0-9]+$ ]] || fail "$1: expected one worker for $2, got pids [$pids]"
    echo "$pids"
}
no_worker() {   # no_worker DATNAME: right now
    local pids
    pids=$(q postgres "$(worker_sql "$1")")
    [ -z "$pids" ] || fail "database $1 has an mq worker (pids $pids), expected none"
}

# Delayed-message wake: a message sent with a 2 s delay reaches a consumer
# that is already waiting in mq.read(..., wait => '20 s').
wake_check() {   # wake_check WHAT DB QUEUE
    local what=$1 db=$2 queue=$3 id got t0 t1 ms
    q "$db" "SELECT mq.create_queue('$queue')" >/dev/null
    t0=$(now_ms)
    id=$(q "$db" "SELECT mq.send('$queue', '{\"wake\": \"$queue\"}', NULL, '2 s')")
    got=$(q "$db" "SELECT id FROM mq.read('$queue', 1, NULL, '20 s')")
    t1=$(now_ms)
    ms=$((t1 - t0))
    [ "$got" = "$id" ] || fail "$what: waiting read returned [$got], expected message $id (after $ms ms)"
    [ "$ms" -ge 1500 ] || fail "$what: delayed message $id was read after $ms ms, before its 2 s delay"
    [ "$ms" -lt 15000 ] || fail "$what: delayed message $id was read only after $ms ms (2 s delay, 20 s wait)"
    echo "ok: $what: waiting read got delayed message $id after $ms ms"
    q "$db" "SELECT mq.ack('$queue', $id)" >/dev/null
}

cluster_init "$C" "$PORT" yes
echo "mq.launcher_naptime = 1" | as_pg tee -a "$C/data/postgresql.conf" >/dev/null
cluster_start "$C" || { cat "$C/server.log"; exit 1; }
echo "cluster up on port $PORT"

########################################################################
echo "== 1. the launcher"
LAUNCHER=$(wait_for "the mq launcher" 30 "$launcher_sql")
[[ "$LAUNCHER" =~ ^[0-9]+$ ]] || fail "expected one mq launcher, got pids [$LAUNCHER]"
echo "ok: mq launcher runs (pid $LAUNCHER)"
expect "application_name of the launcher" "mq launcher" \
    "$(q postgres "SELECT application_name FROM pg_stat_activity WHERE pid = $LAUNCHER")"
wait_log "launcher started" "mq launcher started"

########################################################################
echo "== 2. workers follow CREATE EXTENSION"
q postgres "CREATE DATABASE d1"
q postgres "CREATE DATABASE d2"
D2_OID=$(q postgres "SELECT oid FROM pg_database WHERE datname = 'd2'")
q d1 "CREATE EXTENSION mq"
W1=$(wait_worker "a worker for d1 after CREATE EXTENSION" d1)
echo "ok: worker for d1 (pid $W1)"
expect "application_name|backend_type of the d1 worker" "mq worker|mq worker" \
    "$(q postgres "SELECT application_name || '|' || backend_type FROM pg_stat_activity WHERE pid = $W1")"
wait_log "worker started for d1" 'mq worker started for database "d1"'
# d2 (no extension) is probed by the launcher's rescans (every second) and
# its worker leaves; after a few rescans none is there.
sleep 3
wait_none "the d2 probe worker to leave" 30 "$(worker_sql d2)"
sleep 2
no_worker d2
no_worker postgres
echo "ok: no worker for d2 or postgres (no extension)"
if grep -q "mq worker for database $D2_OID stopped" "$C/server.log"; then
    fail "the launcher restarted the probe of d2 (oid $D2_OID), which has no extension"
fi
echo "ok: the launcher left d2 alone after its probe"
expect "d1 worker unchanged" "$W1" "$(q postgres "$(worker_sql d1)")"

########################################################################
echo "== 3. SIGHUP"
q postgres "ALTER SYSTEM SET mq.worker_naptime = 2"
q postgres "SELECT pg_reload_conf()" >/dev/null
wait_log "reload of mq.worker_naptime" 'parameter "mq.worker_naptime" changed to "2"'
wait_for "SHOW mq.worker_naptime = 2s in a new session" 30 "SELECT 1 WHERE current_setting('mq.worker_naptime') = '2s'" >/dev/null
expect "SHOW mq.worker_naptime after reload" "2s" "$(q d1 "SHOW mq.worker_naptime")"
sleep 1   # the worker and launcher have had time to act on the SIGHUP
expect "d1 worker keeps its pid over the reload" "$W1" "$(q postgres "$(worker_sql d1)")"
expect "launcher keeps its pid over the reload" "$LAUNCHER" "$(q postgres "$launcher_sql")"
wake_check "after SIGHUP" d1 wq1
expect "d1 worker still the same" "$W1" "$(q postgres "$(worker_sql d1)")"

########################################################################
echo "== 3b. the worker records expired leases and dead-letters expired last leases"
q d1 "SELECT mq.create_queue('sweep_dlq')" >/dev/null
q d1 "SELECT mq.create_queue('sweep', max_deliveries => 1, dead_letter_queue => 'sweep_dlq')" >/dev/null
q d1 "SELECT mq.create_queue('sweep_free')" >/dev/null
SWEEP_ID=$(q d1 "SELECT mq.send('sweep', '{\"n\": 1}')")
FREE_ID=$(q d1 "SELECT mq.send('sweep_free', '{\"n\": 2}')")
expect "the one allowed delivery" "$SWEEP_ID|1" "$(q d1 "SELECT id, deliveries FROM mq.read('sweep', 1, '1 second')")"
expect "a delivery on a queue without a limit" "$FREE_ID|1" "$(q d1 "SELECT id, deliveries FROM mq.read('sweep_free', 1, '1 second')")"
t0=$(now_ms)
for i in $(seq 1 300); do
    [ "$(q d1 "SELECT count(*) FROM mq.q_sweep_dlq")" = 1 ] && break
    sleep 0.1
done
echo "ok: dead-lettered by the worker $(( $(now_ms) - t0 )) ms after the read (lease 1 s, naptime 2 s: the lease must have ended a naptime ago)"
expect "nothing left in the queue" 0 "$(q d1 "SELECT count(*) FROM mq.q_sweep")"
expect "the dead-letter record" "$SWEEP_ID|1|1|lease expired (delivery 1)" \
    "$(q d1 "SELECT headers->'mq_dead_letter'->>'id', headers->'mq_dead_letter'->>'deliveries',
                    headers->'mq_dead_letter'->>'failures', headers->'mq_dead_letter'->>'last_error'
               FROM mq.q_sweep_dlq")"
expect "counters of the queue" "1|1" \
    "$(q d1 "SELECT lease_expiries, dead_letters FROM mq.queues WHERE queue_name = 'sweep'")"
for i in $(seq 1 300); do
    [ "$(q d1 "SELECT failures FROM mq.q_sweep_free")" = 1 ] && break
    sleep 0.1
done
expect "the unread expired lease, recorded by the worker" "1|1|f|lease expired (delivery 1)|t" \
    "$(q d1 "SELECT deliveries, failures, leased, last_error, failed_at = vt FROM mq.q_sweep_free")"
expect "counted once" "1|0" \
    "$(q d1 "SELECT lease_expiries, dead_letters FROM mq.queues WHERE queue_name = 'sweep_free'")"
expect "the next read delivers it again, noting nothing twice" "$FREE_ID|2|lease expired (delivery 1)" \
    "$(q d1 "SELECT id, deliveries, last_error FROM mq.read('sweep_free')")"
expect "still one failure, one expiry counted" "1|1" \
    "$(q d1 "SELECT (SELECT failures FROM mq.q_sweep_free), lease_expiries FROM mq.queues WHERE queue_name = 'sweep_free'")"

########################################################################
echo "== 3c. planted code never runs in the worker; a broken queue does not stop it"
q postgres "CREATE ROLE mq_trap_creator"
q d1 "SELECT mq.grant_create('mq_trap_creator')" >/dev/null
q d1 "SET ROLE mq_trap_creator; SELECT mq.create_queue('trap')" >/dev/null
q d1 "SELECT mq.create_queue('broken')" >/dev/null
q d1 "SELECT mq.create_queue('healthy')" >/dev/null
# What 0.3.0's queue creator could do, done here by a superuser: a
# trigger that makes mq_trap_creator a superuser when a superuser fires
# it, and a queue table replaced by a view that calls it too.
q d1 "CREATE FUNCTION public.trap_fn() RETURNS trigger LANGUAGE plpgsql AS \$\$
      BEGIN IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
              EXECUTE 'ALTER ROLE mq_trap_creator SUPERUSER'; END IF; RETURN NEW; END \$\$"
q d1 "CREATE FUNCTION public.trap_view_fn() RETURNS bigint LANGUAGE plpgsql AS \$\$
      BEGIN IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
              EXECUTE 'ALTER ROLE mq_trap_creator SUPERUSER'; END IF; RETURN 1; END \$\$"
TRAP_ID=$(q d1 "SELECT mq.send('trap', '{}')")
q d1 "SELECT mq.send('broken', '{}')" >/dev/null
HEALTHY_ID=$(q d1 "SELECT mq.send('healthy', '{}')")
expect "a lease on trap" "$TRAP_ID" "$(q d1 "SELECT id FROM mq.read('trap', 1, '1 second')")"
expect "a lease on healthy" "$HEALTHY_ID" "$(q d1 "SELECT id FROM mq.read('healthy', 1, '1 second')")"
q d1 "CREATE TRIGGER trap AFTER UPDATE ON mq.q_trap FOR EACH ROW EXECUTE FUNCTION public.trap_fn()"
q d1 "DROP TABLE mq.q_broken; CREATE VIEW mq.q_broken AS SELECT public.trap_view_fn() AS id"
W1_BEFORE=$(q postgres "$(worker_sql d1)")
# The healthy queue's expired lease is recorded by a sweep after the
# broken ones were skipped (the sweep goes by name: broken, healthy, trap).
for i in $(seq 1 300); do
    [ "$(q d1 "SELECT failures FROM mq.q_healthy")" = 1 ] && break
    sleep 0.1
done
expect "the healthy queue's expired lease, recorded past the broken queue" 1 "$(q d1 "SELECT failures FROM mq.q_healthy")"
sleep 5   # two more sweeps (naptime 2 s): each would log again if it were not once
expect "the trap's lease is not recorded (its table is skipped)" "0|t" "$(q d1 "SELECT failures, leased FROM mq.q_trap")"
expect "the planted code never ran as a superuser" f "$(q postgres "SELECT rolsuper FROM pg_roles WHERE rolname = 'mq_trap_creator'")"
expect "the trap skipped, logged once" 1 "$(grep -c 'skips queue "trap": its tables are not as mq made them' "$C/server.log")"
expect "the view skipped, logged once" 1 "$(grep -c 'skips queue "broken": its tables are not as mq made them' "$C/server.log")"
grep -A1 'skips queue "trap"' "$C/server.log" | grep -q 'Table mq.q_trap has trigger "trap"' || fail "the log does not say why trap was skipped"
expect "the worker kept running" "$W1_BEFORE" "$(q postgres "$(worker_sql d1)")"
# Undone: the trigger goes, and the next sweep records the trap's lease.
q d1 "DROP TRIGGER trap ON mq.q_trap"
for i in $(seq 1 300); do
    [ "$(q d1 "SELECT failures FROM mq.q_trap")" = 1 ] && break
    sleep 0.1
done
expect "the trap queue swept once undone" "1|f" "$(q d1 "SELECT failures, leased FROM mq.q_trap")"
expect "still no superuser" f "$(q postgres "SELECT rolsuper FROM pg_roles WHERE rolname = 'mq_trap_creator'")"
q d1 "SELECT mq.drop_queue(q) FROM unnest(ARRAY['trap', 'broken', 'healthy']) q" >/dev/null
q d1 "SELECT mq.revoke_create('mq_trap_creator')" >/dev/null
q d1 "DROP FUNCTION public.trap_fn(); DROP FUNCTION public.trap_view_fn()"
q postgres "DROP ROLE mq_trap_creator"

########################################################################
echo "== 3d. the worker waits for no one's transaction"
q d1 "SELECT mq.create_queue('aheld')" >/dev/null
q d1 "SELECT mq.create_queue('zfree')" >/dev/null
ZID=$(q d1 "SELECT mq.send('zfree', '{}')")
expect "a lease on zfree" "$ZID" "$(q d1 "SELECT id FROM mq.read('zfree', 1, '1 second')")"
# A manager's drop of aheld, left open (ACCESS EXCLUSIVE on its table) for
# 20 s; the sweep goes by name, aheld before zfree.
psql_ -d d1 -c "BEGIN" -c "SELECT mq.drop_queue('aheld')" -c "SELECT pg_sleep(20)" -c "ROLLBACK" >/dev/null &
BG_PIDS+=($!)
t0=$(now_ms)
for i in $(seq 1 150); do
    [ "$(q d1 "SELECT failures FROM mq.q_zfree")" = 1 ] && break
    sleep 0.1
done
expect "zfree's expired lease recorded while aheld's drop is held open" 1 "$(q d1 "SELECT failures FROM mq.q_zfree")"
echo "ok: recorded $(( $(now_ms) - t0 )) ms after the hold began (lease 1 s, naptime 2 s)"
expect "the worker is not waiting on a lock" 0 \
    "$(q postgres "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'mq worker' AND wait_event_type = 'Lock'")"
wait "${BG_PIDS[-1]}" || true
q d1 "SELECT mq.drop_queue(q) FROM unnest(ARRAY['aheld', 'zfree']) q" >/dev/null

########################################################################
echo "== 4. pg_terminate_backend of the worker"
expect "pg_terminate_backend($W1)" t "$(q postgres "SELECT pg_terminate_backend($W1)")"
W2=$(wait_worker "a new worker for d1 after pg_terminate_backend" d1 "$W1")
echo "ok: new worker for d1 (pid $W2, was $W1)"
D1_OID=$(q postgres "SELECT oid FROM pg_database WHERE datname = 'd1'")
wait_log "launcher restarts the d1 worker" "mq worker for database $D1_OID stopped; starting it again"
wake_check "with the restarted worker" d1 wq2
expect "d1 worker still the restarted one" "$W2" "$(q postgres "$(worker_sql d1)")"

########################################################################
echo "== 5. DROP EXTENSION / CREATE EXTENSION"
q d1 "DROP EXTENSION mq"
wait_none "the d1 worker to leave after DROP EXTENSION" 30 "$(worker_sql d1)"
echo "ok: worker for d1 gone after DROP EXTENSION"
wait_log "d1 worker leaves" "mq worker leaving database $D1_OID: extension mq is not installed any more"
sleep 3   # a few launcher rescans: it must not start one again
no_worker d1
echo "ok: no worker for d1 while it has no extension"
q d1 "CREATE EXTENSION mq"
W3=$(wait_worker "the d1 worker after CREATE EXTENSION again" d1)
echo "ok: worker for d1 back (pid $W3)"
wake_check "after re-creating the extension" d1 wq3
# DROP and CREATE in quick succession: the worker leaving for the DROP must
# not make the launcher forget the CREATE.
q d1 "DROP EXTENSION mq"
q d1 "CREATE EXTENSION mq"
sleep 3
W3=$(wait_worker "the d1 worker after DROP + CREATE EXTENSION in quick succession" d1)
echo "ok: worker for d1 after DROP + CREATE in quick succession (pid $W3)"
wake_check "after DROP + CREATE in quick succession" d1 wq3b

########################################################################
echo "== 6. ALTER DATABASE RENAME, CREATE DATABASE ... TEMPLATE"
q postgres "ALTER DATABASE d1 RENAME TO d1b" || fail "ALTER DATABASE d1 RENAME TO d1b failed"
echo "ok: ALTER DATABASE d1 RENAME TO d1b"
W4=$(wait_worker "a worker for d1b after the rename" d1b)
echo "ok: worker for d1b (pid $W4)"
no_worker d1
q postgres "CREATE DATABASE d3 TEMPLATE d1b" || fail "CREATE DATABASE d3 TEMPLATE d1b failed"
echo "ok: CREATE DATABASE d3 TEMPLATE d1b"
W5=$(wait_worker "the d1b worker after CREATE DATABASE ... TEMPLATE d1b" d1b)
echo "ok: worker for d1b (pid $W5)"
expect "d3 has the extension (copied from d1b)" mq "$(q d3 "SELECT extname FROM pg_extension WHERE extname = 'mq'")"
W6=$(wait_worker "a worker for d3 (copied extension)" d3)
echo "ok: worker for d3 (pid $W6)"
wake_check "in d1b after the rename" d1b wq4

########################################################################
echo "== 7. DROP DATABASE"
D1B_OID=$(q postgres "SELECT oid FROM pg_database WHERE datname = 'd1b'")
D3_OID=$(q postgres "SELECT oid FROM pg_database WHERE datname = 'd3'")
for db in d1b d3; do
    wp=$(wait_worker "the $db worker before DROP DATABASE" "$db")
    t0=$(now_ms)
    out=$(q postgres "DROP DATABASE $db" 2>&1) || fail "DROP DATABASE $db failed: $out"
    ms=$(( $(now_ms) - t0 ))
    [ "$ms" -lt 4500 ] || fail "DROP DATABASE $db took $ms ms (blocked by the worker?)"
    echo "ok: DROP DATABASE $db (its worker was pid $wp) in $ms ms"
    expect "$db is gone from pg_database" 0 "$(q postgres "SELECT count(*) FROM pg_database WHERE datname = '$db'")"
done
sleep 3   # a few launcher rescans
expect "mq workers left for the dropped databases" 0 \
    "$(q postgres "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'mq worker' AND datid IN ($D1B_OID, $D3_OID)")"
expect "mq workers left at all (postgres, d2 have no extension)" 0 \
    "$(q postgres "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'mq worker'")"
expect "launcher unchanged" "$LAUNCHER" "$(q postgres "$launcher_sql")"

########################################################################
echo "== 8. crash restart"
q postgres "CREATE DATABASE d4"
q d4 "CREATE EXTENSION mq"
W7=$(wait_worker "a worker for d4" d4)
echo "ok: worker for d4 (pid $W7)"
LOGPOS=$(wc -l < "$C/server.log")
PGAPPNAME=worker_victim psql_ -d postgres -c "SELECT pg_sleep(60)" >"$W/victim.out" 2>&1 &
VICTIM_PSQL=$!
BG_PIDS+=("$VICTIM_PSQL")
VICTIM=$(wait_for "the victim backend to sleep" 30 \
    "SELECT pid FROM pg_stat_activity WHERE application_name = 'worker_victim' AND wait_event = 'PgSleep'")
kill -9 "$VICTIM"
echo "killed backend $VICTIM with SIGKILL"
for i in $(seq 1 300); do
    if tail -n +"$((LOGPOS + 1))" "$C/server.log" | grep -q "all server processes terminated; reinitializing"; then break; fi
    [ "$i" = 300 ] && fail "postmaster did not reinitialise after SIGKILL of backend $VICTIM"
    sleep 0.1
done
echo "ok: postmaster reinitialised"
for i in $(seq 1 300); do
    kill -0 "$VICTIM_PSQL" 2>/dev/null || break
    [ "$i" = 300 ] && fail "the victim's psql did not exit"
    sleep 0.1
done
wait "$VICTIM_PSQL" 2>/dev/null || true
LAUNCHER2=$(wait_for "the launcher after the crash restart" 30 "SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE backend_type = 'mq launcher' AND pid <> $LAUNCHER HAVING count(*) > 0")
[[ "$LAUNCHER2" =~ ^[0-9]+$ ]] || fail "expected one mq launcher after the crash, got pids [$LAUNCHER2]"
echo "ok: launcher back (pid $LAUNCHER2, was $LAUNCHER)"
W8=$(wait_worker "the d4 worker after the crash restart" d4 "$W7")
echo "ok: worker for d4 back (pid $W8, was $W7)"
wake_check "after the crash restart" d4 wq5
sleep 2
no_worker d2
no_worker postgres
expect "d4 worker unchanged" "$W8" "$(q postgres "$(worker_sql d4)")"

########################################################################
echo "== 9. server log"
bad=$(grep -nE 'PANIC|TRAP:|ERROR:|mq.*ERROR' "$C/server.log" || true)
if [ -n "$bad" ]; then
    echo "$bad" >&2
    fail "PANIC / TRAP / ERROR in the server log"
fi
echo "ok: no PANIC, TRAP or ERROR in the server log"
# Expected FATALs: workers terminated (pg_terminate_backend, pauses), our
# polls while the server restarts.
expected_fatal='FATAL:  (terminating background worker "mq (worker|launcher)" due to administrator command|the database system is (in recovery mode|starting up|not yet accepting connections)|terminating connection because of crash of another server process)'
echo "FATAL lines:"
grep -E 'FATAL:' "$C/server.log" | sed 's/^/    /' || true
unexpected=$(grep -E 'FATAL:' "$C/server.log" | grep -vE "$expected_fatal" || true)
[ -z "$unexpected" ] || fail "unexpected FATAL in the server log: $unexpected"
echo "ok: only expected FATALs"

########################################################################
echo "== 10. postmaster death"
# A consumer waiting in mq.read (60 s), the launcher and a worker must all
# leave promptly when the postmaster dies (WL_EXIT_ON_PM_DEATH).
PGAPPNAME=pm_death_waiter psql_ -d d4 -c "SELECT * FROM mq.read('wq5', 1, NULL, '60 s')" >"$W/pmwait.out" 2>&1 &
BG_PIDS+=("$!")
WAITER=$(wait_for "the waiting consumer" 30 \
    "SELECT pid FROM pg_stat_activity WHERE application_name = 'pm_death_waiter' AND wait_event_type = 'Extension'")
LAUNCHER3=$(q postgres "$launcher_sql")
W9=$(q postgres "$(worker_sql d4)")
PM=$(head -n 1 "$C/data/postmaster.pid")
kill -9 "$PM"
echo "killed the postmaster ($PM) with SIGKILL; waiter $WAITER, launcher $LAUNCHER3, worker $W9"
for pid in "$WAITER" "$LAUNCHER3" "$W9"; do
    for i in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || break
        [ "$i" = 300 ] && fail "process $pid still runs 30 s after the postmaster died"
        sleep 0.1
    done
done
echo "ok: the waiting consumer, the launcher and the worker left after the postmaster died"
# Nothing is left to stop; let the trap find no live server.
for i in $(seq 1 100); do
    [ -z "$(pgrep -f "$C/data" || true)" ] && break
    sleep 0.1
done
pkill -9 -f "$C/data" 2>/dev/null || true
# The dead postmaster's SysV segment (id on line 7 of postmaster.pid) stays
# until removed.
SHMID=$(sed -n 7p "$C/data/postmaster.pid" | awk '{print $2}')
[ -n "$SHMID" ] && ipcrm -m "$SHMID" 2>/dev/null || true
as_pg rm -f "$C/data/postmaster.pid"

########################################################################
echo "== 11. more databases than mq.max_workers"
# Restart with one worker slot: d4 and d5 have the extension, so one of them
# gets no worker and the launcher says so; a consumer there still gets a
# delayed message when due (it sleeps until the due time it has seen).
echo "mq.max_workers = 1" | as_pg tee -a "$C/data/postgresql.conf" >/dev/null
cluster_start "$C" || { tail -n 30 "$C/server.log"; fail "restart after the postmaster's death failed"; }
q postgres "CREATE DATABASE d5"
q d5 "CREATE EXTENSION mq"
wait_log "launcher warns that mq.max_workers are in use" "all 1 mq.max_workers are in use"
WITH=$(wait_for "one worker" 30 "SELECT datname FROM pg_stat_activity WHERE backend_type = 'mq worker'")
case $WITH in d4) WITHOUT=d5 ;; d5) WITHOUT=d4 ;; *) fail "expected the one worker in d4 or d5, got [$WITH]" ;; esac
no_worker "$WITHOUT"
echo "ok: one worker ($WITH), none for $WITHOUT"
wake_check "in $WITHOUT, which has no worker" "$WITHOUT" wq6
wake_check "in $WITH, which has the worker" "$WITH" wq7

echo "worker test ok in $((SECONDS - T0)) s"
