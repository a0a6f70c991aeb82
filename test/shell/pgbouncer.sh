#!/usr/bin/env bash
# mq through PgBouncer (Debian's 1.18) in transaction pooling mode, in front
# of the suite's cluster (MQ_TEST_PORT), as docs/operations.md advises:
# waiting consumers in a pool of their own (a second [databases] alias),
# the producer in the application's pool of 4.  10 waiting consumers and a
# producer of 500 messages: every message delivered and acked exactly once,
# and the producer never starved.  Then, for the record (not a check), the
# setup the docs warn against: the same 10 waiters in the producer's pool
# of 4, and how many sends get through in 10 s.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/test/lib.sh"
W=${1:?usage: pgbouncer.sh WORKDIR}
PORT=${MQ_TEST_PORT:?set MQ_TEST_PORT to the port of the test cluster}
DB=mq_bouncer
BPORT=$(free_port)
B=$W/bouncer
psql_() { "$PGBIN/psql" -X -qAt -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres "$@"; }
BOUNCER_PID=
cleanup() {
    # runuser does not pass the signal on: stop pgbouncer by its pid file
    [ -f "$B/pgbouncer.pid" ] && kill "$(cat "$B/pgbouncer.pid")" 2>/dev/null || true
    [ -n "$BOUNCER_PID" ] && kill "$BOUNCER_PID" 2>/dev/null || true
    psql_ -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
}
trap cleanup EXIT
[ -x /usr/sbin/pgbouncer ] || { echo "FAIL: pgbouncer is not installed (test/deps.sh installs it)"; exit 1; }
/usr/sbin/pgbouncer --version | head -n 1

psql_ -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
psql_ -d "$DB" -c "SET client_min_messages = warning" -c "CREATE EXTENSION mq" \
    -c "SELECT mq.create_queue('pb')" -c "CREATE TABLE pb_ledger (id bigint)"

mkdir -p "$B"
cat >"$B/pgbouncer.ini" <<INI
[databases]
; the application's pool (producers, consumers that do not wait)
mq_app = host=127.0.0.1 port=$PORT dbname=$DB pool_size=4
; waiting consumers: a pool as large as their number
mq_waiters = host=127.0.0.1 port=$PORT dbname=$DB pool_size=12

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BPORT
unix_socket_dir =
auth_type = trust
auth_file = $B/userlist.txt
pool_mode = transaction
max_client_conn = 100
default_pool_size = 4
logfile = $B/pgbouncer.log
pidfile = $B/pgbouncer.pid
INI
echo '"postgres" ""' >"$B/userlist.txt"
[ "$(id -u)" = 0 ] && chown -R postgres: "$B"
as_pg /usr/sbin/pgbouncer "$B/pgbouncer.ini" >"$B/stdout.log" 2>&1 &
BOUNCER_PID=$!
for i in $(seq 1 50); do
    (exec 3<>/dev/tcp/127.0.0.1/"$BPORT") 2>/dev/null && break
    sleep 0.1
done
(exec 3<>/dev/tcp/127.0.0.1/"$BPORT") 2>/dev/null || { cat "$B/pgbouncer.log" "$B/stdout.log"; echo "FAIL: pgbouncer did not start"; exit 1; }

dsn() { echo "host=127.0.0.1 port=$BPORT user=postgres dbname=$1"; }

echo "== waiters in their own pool (mq_waiters, 12), producer in mq_app (4)"
out=$(/usr/bin/python3 "$here/test/drivers/bouncer_load.py" "$(dsn mq_waiters)" "$(dsn mq_app)" 500 10 60)
echo "$out"
line=$(echo "$out" | grep '^sent=')
eval "$(echo "$line" | tr ' ' '\n' | grep -E '^(sent|acked|distinct|duplicated|errors)=')"
[ "$sent" = 500 ] || { echo "FAIL: the producer sent $sent of 500 in 60 s"; exit 1; }
[ "$acked" = 500 ] && [ "$distinct" = 500 ] && [ "$duplicated" = 0 ] ||
    { echo "FAIL: acked $acked, distinct $distinct, duplicated $duplicated (want 500, 500, 0)"; exit 1; }
[ "$errors" = 0 ] || { echo "FAIL: consumers raised errors"; exit 1; }
[ "$(psql_ -d "$DB" -c "SELECT count(*) FROM mq.q_pb")" = 0 ] || { echo "FAIL: messages left in the queue"; exit 1; }
echo "ok: 500 sent and each delivered and acked once through PgBouncer"

echo "== for the record: the same 10 waiters in the producer's pool of 4 (not a check)"
psql_ -d "$DB" -c "TRUNCATE pb_ledger" -c "SELECT mq.purge('pb')" >/dev/null
/usr/bin/python3 "$here/test/drivers/bouncer_load.py" "$(dsn mq_app)" "$(dsn mq_app)" 500 10 10 | grep '^sent=' || true
echo "pgbouncer ok"
