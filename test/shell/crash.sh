#!/usr/bin/env bash
# Crash safety of mq, on a cluster of our own (fsync = on) that we crash:
#   1. committed messages, acks and leases survive `pg_ctl stop -m immediate`;
#      an open transaction's sends vanish; an unlogged queue comes back empty
#      but usable; a prepared transaction's sends stay invisible until
#      COMMIT PREPARED after the restart, then mq.read returns them;
#      ROLLBACK PREPARED and a prepared ack after the restart do what they
#      say, and COMMIT PREPARED wakes a consumer waiting in mq.read;
#   2. a consumer backend SIGKILLed inside its read transaction (the
#      postmaster crash-restarts every backend) leaves its message visible
#      with deliveries = 0, and mq.read hands it out again.
#   3. three crash cycles under 4 concurrent producers that record each send
#      in a ledger table in the same transaction: no lost, phantom or
#      duplicate message, and every send a producer saw commit is there.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/test/lib.sh"
W=${1:?usage: crash.sh WORKDIR}
C=$W/cluster
PORT=$(free_port)
DB=mq_crash
BG_PIDS=()

cleanup() {
    local p
    for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    cluster_stop "$C" immediate
}
trap cleanup EXIT
trap 'echo "crash.sh: command failed at line $LINENO: $BASH_COMMAND" >&2' ERR

# fail, psql_, q, expect: test/lib.sh
recoveries() { grep -c "automatic recovery in progress" "$C/server.log" || true; }

# Wait (bounded) until the background process $1 has exited.
wait_gone() {
    local pid=$1 i
    for i in $(seq 1 200); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    fail "background process $pid did not exit after the crash"
}

# Wait (bounded) until a query returns a non-empty result; print it.
wait_for() {   # wait_for WHAT SQL
    local i out
    for i in $(seq 1 300); do
        out=$(q "$2")
        if [ -n "$out" ]; then echo "$out"; return 0; fi
        sleep 0.1
    done
    fail "timed out waiting for $1"
}

crash_restart() {   # immediate stop + start; checks that recovery ran
    local before
    before=$(recoveries)
    as_pg "$PGBIN/pg_ctl" -D "$C/data" -m immediate -w -t 60 stop >/dev/null
    cluster_start "$C" || fail "restart after crash failed"
    [ "$(recoveries)" -gt "$before" ] || fail "no crash recovery after stop -m immediate"
}

cluster_init "$C" "$PORT" yes
echo "fsync = on" | as_pg tee -a "$C/data/postgresql.conf" >/dev/null
cluster_start "$C" || { cat "$C/server.log"; exit 1; }
psql_ -d postgres -c "CREATE DATABASE $DB"
q "CREATE EXTENSION mq"
[ "$(psql_ -d postgres -c "SHOW fsync")" = on ] || fail "fsync is not on"
T0=$SECONDS

########################################################################
# 1. stop -m immediate with committed, acked, leased, open and prepared work
########################################################################
q "SELECT mq.create_queue('durable')" >/dev/null
q "SELECT mq.create_queue('ephemeral', unlogged => true)" >/dev/null
for qn in durable ephemeral; do
    # n 1..1000: send_batch, 10 transactions of 100
    for b in $(seq 1 100 1000); do
        q "SELECT count(*) FROM mq.send_batch('$qn', ARRAY(SELECT jsonb_build_object('n', g) FROM generate_series($b, $((b + 99))) g ORDER BY g))" >/dev/null
    done
    # n 1001..1500: one autocommit mq.send each
    for n in $(seq 1001 1500); do
        echo "SELECT mq.send('$qn', '{\"n\": $n}');"
    done | psql_ -d "$DB" >/dev/null
    # n 1501..2000: mq.send in one transaction
    q "SELECT count(mq.send('$qn', jsonb_build_object('n', g))) FROM (SELECT g FROM generate_series(1501, 2000) g ORDER BY g) s" >/dev/null
    expect "$qn has 2000 messages before the crash" 2000 "$(q "SELECT count(*) FROM mq.q_$qn")"
done

expect "acked 100 durable messages (n % 20 = 0)" 100 \
    "$(q "SELECT mq.ack('durable', ARRAY(SELECT id FROM mq.q_durable WHERE (payload->>'n')::int % 20 = 0))")"
LEASED_EXPECTED=$(seq 1 52 | grep -vxE '20|40' | paste -sd,)
LEASED=$(q "SELECT string_agg(payload->>'n', ',' ORDER BY id) FROM mq.read('durable', 50, '1 hour')")
expect "leased the 50 oldest durable messages for 1 hour" "$LEASED_EXPECTED" "$LEASED"

psql_ -d "$DB" >/dev/null <<'SQL'
BEGIN;
SELECT mq.send('durable', jsonb_build_object('prepared', true, 'n', k)) FROM generate_series(1, 5) k;
PREPARE TRANSACTION 'crash_p1';
SQL
expect "prepared transaction crash_p1 exists" 1 "$(q "SELECT count(*) FROM pg_prepared_xacts WHERE gid = 'crash_p1'")"

# Two-phase commit across the restart on its own queue: a prepared send to
# be rolled back, a prepared ack, a prepared send to be committed while a
# consumer waits for it.
q "SELECT mq.create_queue('twopc')" >/dev/null
q "SELECT count(*) FROM mq.send_batch('twopc', ARRAY['{\"k\": \"m1\"}', '{\"k\": \"m2\"}', '{\"k\": \"m3\"}']::jsonb[])" >/dev/null
psql_ -d "$DB" >/dev/null <<'SQL'
BEGIN;
SELECT mq.send('twopc', '{"k": "p2"}');
PREPARE TRANSACTION 'crash_p2';
BEGIN;
SELECT mq.ack('twopc', (SELECT id FROM mq.q_twopc WHERE payload->>'k' = 'm1'));
PREPARE TRANSACTION 'crash_p3';
BEGIN;
SELECT mq.send('twopc', '{"k": "p4"}');
PREPARE TRANSACTION 'crash_p4';
SQL
expect "prepared transactions crash_p2..p4 exist" 3 "$(q "SELECT count(*) FROM pg_prepared_xacts WHERE gid IN ('crash_p2', 'crash_p3', 'crash_p4')")"

{
    echo "BEGIN;"
    for k in $(seq 1 10); do echo "SELECT mq.send('durable', '{\"open\": true, \"n\": $((100000 + k))}');"; done
    echo "SELECT pg_sleep(600);"
} > "$W/open.sql"
PGAPPNAME=crash_open psql_ -d "$DB" -f "$W/open.sql" >"$W/open.out" 2>&1 &
OPEN_PID=$!
BG_PIDS+=("$OPEN_PID")
wait_for "the open transaction to be sleeping" \
    "SELECT pid FROM pg_stat_activity WHERE application_name = 'crash_open' AND wait_event = 'PgSleep' AND backend_xid IS NOT NULL" >/dev/null
expect "durable before the crash: depth|in_flight" "1850|50" \
    "$(q "SELECT depth || '|' || in_flight FROM mq.queues WHERE queue_name = 'durable'")"

crash_restart
wait_gone "$OPEN_PID"
echo "crash 1 done, server restarted ($((SECONDS - T0)) s)"

expect "durable after crash: rows|distinct n|open|prepared" "1900|1900|0|0" \
    "$(q "SELECT count(*) || '|' || count(DISTINCT payload->>'n') || '|' || count(*) FILTER (WHERE payload ? 'open') || '|' || count(*) FILTER (WHERE payload ? 'prepared') FROM mq.q_durable")"
expect "durable after crash: committed n values missing" 0 \
    "$(q "SELECT count(*) FROM (SELECT g FROM generate_series(1, 2000) g WHERE g % 20 <> 0 EXCEPT SELECT (payload->>'n')::int FROM mq.q_durable) x")"
expect "durable after crash: unexpected n values (acked or never sent)" 0 \
    "$(q "SELECT count(*) FROM (SELECT (payload->>'n')::int FROM mq.q_durable EXCEPT SELECT g FROM generate_series(1, 2000) g WHERE g % 20 <> 0) x")"
expect "durable after crash: leased messages keep deliveries = 1 and their lease" "$LEASED" \
    "$(q "SELECT string_agg(payload->>'n', ',' ORDER BY id) FROM mq.q_durable WHERE deliveries = 1 AND leased AND vt > now() + interval '50 minutes'")"
expect "durable after crash: unleased messages untouched" 1850 \
    "$(q "SELECT count(*) FROM mq.q_durable WHERE deliveries = 0 AND NOT leased AND vt <= now()")"
expect "durable after crash: mq.queues depth|in_flight" "1850|50" \
    "$(q "SELECT depth || '|' || in_flight FROM mq.queues WHERE queue_name = 'durable'")"

expect "ephemeral (unlogged) is empty after the crash" 0 "$(q "SELECT count(*) FROM mq.q_ephemeral")"
expect "ephemeral still listed in mq.queues" "true|0" \
    "$(q "SELECT unlogged || '|' || depth FROM mq.queues WHERE queue_name = 'ephemeral'")"
EID=$(q "SELECT mq.send('ephemeral', '{\"after\": \"crash\"}')")
expect "ephemeral usable: read returns the new message" "$EID|{\"after\": \"crash\"}|1" \
    "$(q "SELECT id || '|' || payload || '|' || deliveries FROM mq.read('ephemeral', 10)")"
expect "ephemeral usable: ack" t "$(q "SELECT mq.ack('ephemeral', $EID)")"
expect "ephemeral empty after ack" 0 "$(q "SELECT count(*) FROM mq.q_ephemeral")"

expect "prepared transaction crash_p1 survived the crash" 1 \
    "$(q "SELECT count(*) FROM pg_prepared_xacts WHERE gid = 'crash_p1' AND database = current_database()")"
# A read of everything, given back at once with set_vt (a read that rolled
# back would count as a failed delivery: each check costs a delivery).
read_all_given_back() {
    psql_ -d "$DB" <<'SQL'
BEGIN;
CREATE TEMP TABLE seen ON COMMIT DROP AS SELECT id, payload FROM mq.read('durable', 10000);
SELECT count(*) || '|' || count(*) FILTER (WHERE payload ? 'prepared') FROM seen;
\o /dev/null
SELECT mq.set_vt('durable', COALESCE((SELECT array_agg(id) FROM seen), '{}'), '0');
\o
COMMIT;
SQL
}
expect "with crash_p1 pending, mq.read returns: all|prepared" "1850|0" "$(read_all_given_back)"
q "COMMIT PREPARED 'crash_p1'"
expect "after COMMIT PREPARED, mq.read returns: all|prepared" "1855|5" "$(read_all_given_back)"
sleep 1.1   # past mq's once-a-second prepared-transaction check: tracked reads now
expect "after COMMIT PREPARED (tracked read), mq.read returns: all|prepared" "1855|5" "$(read_all_given_back)"

expect "crash_p2..p4 survived the crash" 3 "$(q "SELECT count(*) FROM pg_prepared_xacts WHERE gid IN ('crash_p2', 'crash_p3', 'crash_p4')")"
expect "twopc: m1 is held by the prepared ack, p2 and p4 are not visible: read gets" "m2,m3" \
    "$(q "SELECT string_agg(payload->>'k', ',' ORDER BY id) FROM mq.read('twopc', 10)")"
q "SELECT count(mq.ack('twopc', id)) FROM mq.q_twopc WHERE payload->>'k' IN ('m2', 'm3')" >/dev/null
PGAPPNAME=twopc_waiter psql_ -d "$DB" -qAt -c "SELECT payload->>'k' FROM mq.read('twopc', 1, NULL, '60 s')" >"$W/twopc_wait.out" 2>&1 &
TWOPC_WAITER=$!
BG_PIDS+=("$TWOPC_WAITER")
wait_for "the consumer to wait on twopc" \
    "SELECT pid FROM pg_stat_activity WHERE application_name = 'twopc_waiter' AND wait_event_type = 'Extension'" >/dev/null
q "ROLLBACK PREPARED 'crash_p2'"
q "COMMIT PREPARED 'crash_p3'"
q "COMMIT PREPARED 'crash_p4'"
for i in $(seq 1 100); do kill -0 "$TWOPC_WAITER" 2>/dev/null || break; sleep 0.1; done
kill -0 "$TWOPC_WAITER" 2>/dev/null && fail "the waiting consumer was not woken within 10 s of COMMIT PREPARED"
expect "the waiting consumer got the message of COMMIT PREPARED crash_p4" p4 "$(cat "$W/twopc_wait.out")"
expect "twopc holds only p4 (m1 acked by crash_p3, p2 rolled back)" p4 \
    "$(q "SELECT string_agg(payload->>'k', ',') FROM mq.q_twopc")"

expect "set_vt made the 50 leased messages visible" 50 \
    "$(q "SELECT count(mq.set_vt('durable', id, '0 seconds')) FROM mq.q_durable WHERE deliveries = 1")"
q "CREATE TABLE drained (id bigint, n int, prepared boolean, deliveries int)"
total=0
for i in $(seq 1 20); do
    r=$(q "WITH r AS (SELECT * FROM mq.read('durable', 500)),
                ins AS (INSERT INTO drained SELECT id, (payload->>'n')::int, payload ? 'prepared', deliveries FROM r)
           SELECT count(*) || '|' || mq.ack('durable', COALESCE(array_agg(id), '{}')) FROM r")
    got=${r%%|*}; acked=${r##*|}
    [ "$got" = "$acked" ] || fail "drain: read $got but acked $acked"
    [ "$got" = 0 ] && break
    total=$((total + got))
done
expect "drained from durable (1900 committed + 5 prepared)" 1905 "$total"
expect "drained: distinct ids|prepared|prepared n" "1905|5|1,2,3,4,5" \
    "$(q "SELECT count(DISTINCT id) || '|' || count(*) FILTER (WHERE prepared) || '|' || (SELECT string_agg(n::text, ',' ORDER BY n) FROM drained WHERE prepared) FROM drained")"
expect "drained: committed n set differs from expected" 0 \
    "$(q "SELECT count(*) FROM ((SELECT g FROM generate_series(1, 2000) g WHERE g % 20 <> 0 EXCEPT SELECT n FROM drained WHERE NOT prepared) UNION ALL (SELECT n FROM drained WHERE NOT prepared EXCEPT SELECT g FROM generate_series(1, 2000) g WHERE g % 20 <> 0)) x")"
# the 50 leased: before the crash and now; the others: three checks and now
# (the five prepared ones: the two checks after COMMIT PREPARED and now)
expect "drained: deliveries of the 50 leased|the other committed|the prepared" "$LEASED|1850|5" \
    "$(q "SELECT (SELECT string_agg(n::text, ',' ORDER BY id) FROM drained WHERE deliveries = 2) || '|' || (SELECT count(*) FROM drained WHERE deliveries = 4 AND NOT prepared) || '|' || (SELECT count(*) FROM drained WHERE deliveries = 3 AND prepared)")"
expect "durable empty after draining" 0 "$(q "SELECT count(*) FROM mq.q_durable")"
echo "part 1 ok ($((SECONDS - T0)) s)"

########################################################################
# 2. SIGKILL of a backend in the middle of a consumer transaction
########################################################################
q "SELECT mq.create_queue('durable2')" >/dev/null
q "SELECT count(*) FROM mq.send_batch('durable2', ARRAY['{\"m\": 1}', '{\"m\": 2}', '{\"m\": 3}']::jsonb[])" >/dev/null
FIRST=$(q "SELECT min(id) FROM mq.q_durable2")
printf '%s\n' "BEGIN;" "SELECT id FROM mq.read('durable2', 1);" "SELECT pg_sleep(600);" > "$W/consumer.sql"
PGAPPNAME=crash_consumer psql_ -d "$DB" -f "$W/consumer.sql" >"$W/consumer.out" 2>&1 &
CONS_PID=$!
BG_PIDS+=("$CONS_PID")
VICTIM=$(wait_for "the consumer to be sleeping in its transaction" \
    "SELECT pid FROM pg_stat_activity WHERE application_name = 'crash_consumer' AND wait_event = 'PgSleep' AND backend_xid IS NOT NULL")
expect "consumer holds a lock on the oldest message" "$((FIRST + 1)),$((FIRST + 2))" \
    "$(q "SELECT string_agg(id::text, ',' ORDER BY id) FROM (SELECT id FROM mq.q_durable2 ORDER BY id FOR UPDATE SKIP LOCKED) x")"
LOGPOS=$(wc -l < "$C/server.log")
kill -9 "$VICTIM"
echo "killed backend $VICTIM with SIGKILL"
for i in $(seq 1 600); do
    if tail -n +"$((LOGPOS + 1))" "$C/server.log" | grep -q "all server processes terminated; reinitializing"; then break; fi
    [ "$i" = 600 ] && fail "postmaster did not crash-restart after SIGKILL of backend $VICTIM"
    sleep 0.1
done
for i in $(seq 1 600); do
    if psql_ -d "$DB" -c "SELECT 1" >/dev/null 2>&1; then break; fi
    [ "$i" = 600 ] && fail "server did not accept connections within 60 s after the crash-restart"
    sleep 0.1
done
wait_gone "$CONS_PID"
echo "server back after backend SIGKILL ($((SECONDS - T0)) s)"
expect "durable2 after SIGKILL: all 3 visible, deliveries 0, not leased" 3 \
    "$(q "SELECT count(*) FROM mq.q_durable2 WHERE vt <= now() AND deliveries = 0 AND NOT leased")"
expect "mq.read hands out the message the killed consumer had read" "$FIRST|1" \
    "$(q "SELECT id || '|' || deliveries FROM mq.read('durable2', 1)")"
expect "ack it" t "$(q "SELECT mq.ack('durable2', $FIRST)")"
expect "the other two are readable" "$((FIRST + 1)),$((FIRST + 2))" \
    "$(q "SELECT string_agg(id::text, ',' ORDER BY id) FROM mq.read('durable2', 10)")"
echo "part 2 ok ($((SECONDS - T0)) s)"

########################################################################
# 3. three crash cycles under concurrent producers with a ledger
########################################################################
q "SELECT mq.create_queue('cycle')" >/dev/null
q "CREATE TABLE sent (n bigint PRIMARY KEY)"
q "CREATE SEQUENCE nseq"
q "CREATE TABLE acked (n bigint)"
stmt="WITH s AS (SELECT nextval('nseq') AS n), m AS (SELECT s.n, mq.send('cycle', jsonb_build_object('n', s.n)) AS id FROM s) INSERT INTO sent SELECT n FROM m RETURNING n;"
for i in $(seq 1 50000); do echo "$stmt"; done > "$W/producer.sql"
for cycle in 1 2 3; do
    PIDS=()
    for p in 1 2 3 4; do
        PGAPPNAME=crash_producer psql_ -d "$DB" -f "$W/producer.sql" >"$W/acked.$cycle.$p" 2>"$W/producer.$cycle.$p.err" &
        PIDS+=("$!"); BG_PIDS+=("$!")
    done
    sleep 2
    before=$(q "SELECT count(*) FROM sent")
    [ "$before" -gt 0 ] || fail "cycle $cycle: producers made no progress in 2 s"
    crash_restart
    for p in "${PIDS[@]}"; do wait_gone "$p"; done
    nack=$(cat "$W"/acked."$cycle".* | grep -cE '^[0-9]+$' || true)
    echo "cycle $cycle: crashed with >= $before sends committed, producers saw $nack commits ($((SECONDS - T0)) s)"
    [ "$nack" -gt 0 ] || fail "cycle $cycle: producers saw no commit"
done
cat "$W"/acked.* | grep -E '^[0-9]+$' | psql_ -d "$DB" -c "COPY acked FROM STDIN"

SENT=$(q "SELECT count(*) FROM sent")
MSGS=$(q "SELECT count(*) FROM mq.q_cycle")
ACKED=$(q "SELECT count(*) FROM acked")
echo "ledger: $SENT sent, $MSGS messages in mq.q_cycle, $ACKED commits seen by producers"
expect "lost (in sent, not in queue)" 0 \
    "$(q "SELECT count(*) FROM sent s WHERE NOT EXISTS (SELECT 1 FROM mq.q_cycle c WHERE (c.payload->>'n')::bigint = s.n)")"
expect "phantom (in queue, not in sent)" 0 \
    "$(q "SELECT count(*) FROM mq.q_cycle c WHERE NOT EXISTS (SELECT 1 FROM sent s WHERE s.n = (c.payload->>'n')::bigint)")"
expect "duplicated n in queue" 0 \
    "$(q "SELECT count(*) FROM (SELECT payload->>'n' FROM mq.q_cycle GROUP BY 1 HAVING count(*) > 1) d")"
expect "queue count equals ledger count" "$SENT" "$MSGS"
expect "commits seen by producers but missing from the ledger" 0 \
    "$(q "SELECT count(*) FROM acked a WHERE NOT EXISTS (SELECT 1 FROM sent s WHERE s.n = a.n)")"
expect "commits seen twice" 0 "$(q "SELECT count(*) - count(DISTINCT n) FROM acked")"
unseen=$((SENT - ACKED))
# At most one commit per producer per crash can have lost its reply.
[ "$unseen" -ge 0 ] && [ "$unseen" -le 12 ] || fail "$unseen committed sends whose reply was lost (at most 12 expected)"
echo "ok: $unseen committed sends had their reply lost in the crashes (<= 12)"

drained=0
for i in $(seq 1 100); do
    r=$(q "WITH r AS (SELECT * FROM mq.read('cycle', 5000))
           SELECT count(*) || '|' || count(*) FILTER (WHERE deliveries = 1) || '|' || mq.ack('cycle', COALESCE(array_agg(id), '{}')) FROM r")
    IFS='|' read -r got first acked <<<"$r"
    [ "$got" = "$first" ] && [ "$got" = "$acked" ] || fail "cycle drain: read|first delivery|acked = $r"
    [ "$got" = 0 ] && break
    drained=$((drained + got))
done
expect "every ledger message read and acked once" "$SENT" "$drained"
expect "cycle queue empty" 0 "$(q "SELECT count(*) FROM mq.q_cycle")"

echo "crash test ok in $((SECONDS - T0)) s: part 1 (1905 drained), part 2 (SIGKILL), part 3 ($SENT sends over 3 crashes)"
