#!/usr/bin/env bash
# `make run` / `make stop`: a local PostgreSQL 15 cluster with mq preloaded,
# kept under .run/ in the checkout (git-ignored), running as a non-root user
# on a free port.  `start` creates it on first use, (re)starts it so the
# freshly installed mq is loaded, and shows mq working; `stop` stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh

RUN=$PWD/.run
DB=mqdemo

# The server user must be able to reach the data directory; when the
# checkout is private (e.g. under /root), keep the cluster in /var/tmp.
cluster_dir() {
    if [ -f "$RUN/location" ]; then cat "$RUN/location"; return; fi
    mkdir -p "$RUN"
    local dir=$RUN/pg
    if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$RUN" 2>/dev/null; then
        dir=/var/tmp/mq-run-$(printf '%s' "$PWD" | md5sum | cut -c1-12)
    fi
    echo "$dir" > "$RUN/location"
    echo "$dir"
}

cmd=${1:-start}
DIR=$(cluster_dir)

case "$cmd" in
stop)
    if [ -f "$DIR/data/postmaster.pid" ]; then
        cluster_stop "$DIR" fast
        echo "mq: cluster in $DIR stopped"
    else
        echo "mq: no running cluster"
    fi
    exit 0
    ;;
start) ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac

if [ ! -f "$DIR/data/PG_VERSION" ]; then
    port=$(free_port)
    echo "mq: creating a cluster in $DIR on port $port"
    cluster_init "$DIR" "$port" yes
    echo "$port" > "$RUN/port"
fi
port=$(cat "$RUN/port")
# The library the server has loaded is the one installed when it started:
# restart (cutting off open sessions) only when make install changed it.
lib_sum() { md5sum "$("$PGBIN/pg_config" --pkglibdir)/mq.so" | cut -d' ' -f1; }
if [ -f "$DIR/data/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
    if [ "$(cat "$RUN/loaded" 2>/dev/null)" = "$(lib_sum)" ]; then
        echo "mq: the cluster is running with this build of mq; not restarting it"
    else
        echo "mq: restarting the cluster to load the newly installed mq (open sessions are cut off)"
        as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 restart >/dev/null
    fi
else
    cluster_start "$DIR"
fi
lib_sum > "$RUN/loaded"

export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres
psql_() { "$PGBIN/psql" -X -v ON_ERROR_STOP=1 "$@"; }
if [ "$(psql_ -qAt -d postgres -c "SELECT count(*) FROM pg_database WHERE datname = '$DB'")" = 0 ]; then
    psql_ -q -d postgres -c "CREATE DATABASE $DB"
fi

echo "mq: demo in database $DB"
psql_ -d "$DB" <<'SQL'
\set ECHO queries
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS mq;
ALTER EXTENSION mq UPDATE;   -- a cluster kept from an older make run
SELECT mq.drop_queue('demo', if_exists => true);
RESET client_min_messages;
SELECT mq.create_queue('demo', visibility_timeout => '30 seconds');

-- A send inside a transaction exists once it commits ...
BEGIN;
SELECT mq.send('demo', '{"order": 1001, "total": 42.50}', headers => '{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}');
COMMIT;
-- ... and one in a rolled-back transaction never appears.
BEGIN;
SELECT mq.send('demo', '{"order": 1002, "note": "rolled back"}');
ROLLBACK;

-- A consumer leases the message, does its work, acks, in one transaction.
BEGIN;
SELECT id, payload, headers, deliveries FROM mq.read('demo', qty => 10) \gset msg_
SELECT :'msg_payload' AS received;
SELECT mq.ack('demo', :msg_id);
COMMIT;

SELECT mq.send('demo', '{"order": 1003}');
SELECT queue_name, visibility_timeout, depth, in_flight, delayed, archived FROM mq.queues;
SELECT mq.purge('demo');
SQL

# A blocking consumer: it waits in mq.read until a message commits.  Another
# session sends one after 1.5 s; the consumer returns at once with it.
echo
echo "mq: a consumer waits in mq.read(..., wait => '10 s'); a sender commits after 1.5 s"
psql_ -d "$DB" -qAt -c "WITH m AS (SELECT * FROM mq.read('demo', 1, wait => '10 seconds'))
        SELECT 'consumer got ' || payload::text || ' after ' ||
        round(extract(epoch FROM clock_timestamp() - statement_timestamp()), 2) || ' s, acked: ' ||
        mq.ack('demo', id) FROM m" &
consumer=$!
sleep 1.5
psql_ -d "$DB" -qAt -c "SELECT 'sender committed message ' || mq.send('demo', '{\"order\": 1004}')"
wait "$consumer"
psql_ -d "$DB" -qAt -c "SELECT 'queue demo now: depth ' || depth || ', in flight ' || in_flight ||
        ', failing ' || failing FROM mq.queues WHERE queue_name = 'demo'"
psql_ -d "$DB" -qAt -c "SELECT 'mq workers: ' || string_agg(backend_type || coalesce(' (' || datname || ')', ''), ', ' ORDER BY backend_type)
        FROM pg_stat_activity WHERE backend_type IN ('mq launcher', 'mq worker')"

cat <<MSG

mq is running (PostgreSQL 15, shared_preload_libraries = 'mq').
  connect:  psql -h 127.0.0.1 -p $port -U postgres $DB
  stop:     make stop
  log:      $DIR/server.log
MSG
