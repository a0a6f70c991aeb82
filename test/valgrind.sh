#!/usr/bin/env bash
# `make valgrind`: the pg_regress tests, the functional checks of the
# waiting-read client (test/client/wait.c) and a vacuum by the database's
# worker (reclaim.c), against a server running under valgrind (memcheck,
# every backend traced: the launcher and workers too).  Passes when the
# tests pass and no valgrind error has a frame in mq.so.  (Debian's postgres is not built
# with USE_VALGRIND, so PostgreSQL's own well-known reports about padding
# bytes handed to write()/pwrite() appear in the logs; they are not counted.)
set -uo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)"; exit 1; }

W=$(mktemp -d /tmp/mq-valgrind.XXXXXX)
chmod 755 "$W"
[ "$(id -u)" = 0 ] && chown postgres "$W"
cleanup() {
    [ -f "$W/c/data/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$W/c/data" -m immediate -w stop >/dev/null 2>&1
    rm -rf "$W"
}
trap cleanup EXIT

PORT=$(free_port)
cluster_init "$W/c" "$PORT" yes
as_pg bash -c "valgrind --quiet --trace-children=yes --log-file=$W/vg.%p.log \
    $PGBIN/postgres -D $W/c/data > $W/server.log 2>&1 &"
for _ in $(seq 1 180); do "$PGBIN/pg_isready" -h 127.0.0.1 -p "$PORT" -q && break; sleep 1; done

PGXS_DIR=$("$PGBIN/pg_config" --pgxs | xargs dirname | xargs dirname)
mkdir -p "$W/out/expected" && cp expected/*.out "$W/out/expected/"
"$PGXS_DIR/test/regress/pg_regress" --inputdir=test --outputdir="$W/out" --bindir="$PGBIN" \
    --host=127.0.0.1 --port="$PORT" --user=postgres --dbname=mq_regress \
    $(sed -e 's/#.*//' test/regress_schedule | xargs)
rc=$?

# Waiting reads, the worker and notifications under memcheck: the checks of
# test/client/wait.c that do not need many connections or CPU measurement.
if gcc -Wall -Wextra -Werror -O2 -o "$W/wait" test/client/wait.c -I/usr/include/postgresql -lpq; then
    for t in commit rollback prepared delayed lease timeout interrupt priority one notify privilege partitions; do
        "$W/wait" "host=127.0.0.1 port=$PORT user=postgres dbname=postgres" "$t" | grep -v "all checks passed" || rc=1
    done
else
    rc=1
fi

# The worker's vacuum (reclaim.c) under memcheck: 3,000 acked messages are
# dead rows enough; wait (60 s at most) for the worker to vacuum the table.
vq() { "$PGBIN/psql" -X -qAt -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d vg_reclaim -c "$1"; }
if "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -c "CREATE DATABASE vg_reclaim" &&
    vq "CREATE EXTENSION mq" && vq "SELECT mq.create_queue('r')" >/dev/null &&
    vq "SELECT count(*) FROM mq.send_batch('r', (SELECT array_agg(jsonb_build_object('i', g)) FROM generate_series(1, 3000) g))" >/dev/null &&
    [ "$(vq "SELECT count(mq.ack('r', id)) FROM mq.read('r', 3000)")" = 3000 ]; then
    vacuumed=f
    for _ in $(seq 1 60); do
        vacuumed=$(vq "SELECT vacuum_count > 0 FROM pg_stat_user_tables WHERE relid = 'mq.q_r'::regclass")
        [ "$vacuumed" = t ] && break
        sleep 1
    done
    if [ "$vacuumed" = t ]; then
        echo "ok     reclaim: the worker vacuumed a churned queue table"
    else
        echo "FAIL   reclaim: the worker did not vacuum the queue table within 60 s"
        rc=1
    fi
else
    rc=1
fi
as_pg "$PGBIN/pg_ctl" -D "$W/c/data" -m fast -w stop >/dev/null 2>&1
sleep 2
ours=$(grep -l "mq\.so" "$W"/vg.*.log 2>/dev/null | wc -l)
echo "valgrind: $(ls "$W"/vg.*.log | wc -l) process logs, $ours with a report in mq.so"
if [ "$ours" != 0 ]; then
    grep -h -B3 -A25 "mq\.so" "$W"/vg.*.log | head -120
    rc=1
fi
exit $rc
