#!/usr/bin/env bash
# Instructions per call of mq.send and of read+ack, counted by callgrind
# (repeatable, where wall time on a shared machine is not), for the build
# of mq that is installed now.  A single-user backend (postgres --single:
# each statement its own transaction, no client round trip) runs N copies
# of a statement after 50 warm-up copies; the count of a run of only the
# warm-up is subtracted, and the rest divided by N.  To compare two builds,
# install one, run this, install the other, run it again.
#
#   bash bench/instructions.sh          # N=1000 by default (BENCH_CALLS);
#                                       # 200 reads of 100 (BENCH_BATCH_CALLS)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/test/lib.sh"
N=${BENCH_CALLS:-1000}
NB=${BENCH_BATCH_CALLS:-200}   # calls of the 100-message read
command -v valgrind >/dev/null || { echo "valgrind is needed" >&2; exit 1; }
C=$(mktemp -d /tmp/mq-instr.XXXXXX)
chmod 755 "$C"
[ "$(id -u)" = 0 ] && chown postgres: "$C"
trap 'as_pg "$PGBIN/pg_ctl" -D "$C/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$C"' EXIT
PORT=$(free_port)
cluster_init "$C" "$PORT" yes
cluster_start "$C"
"$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres \
    -c "CREATE EXTENSION mq" -c "SELECT mq.create_queue('b')" \
    -c "SELECT count(*) FROM mq.send_batch('b', array_fill('{\"order\": 1}'::jsonb, ARRAY[$((N + 100 + (NB + 100) * 100))]))" >/dev/null
cluster_stop "$C"

# count NAME STATEMENT [CALLS]: instructions per statement
count() {
    local f w n calls=${3:-$N}
    for f in warm full; do
        { for i in $(seq 1 50); do echo "$2"; done
          if [ $f = full ]; then for i in $(seq 1 "$calls"); do echo "$2"; done; fi; } >"$C/$1.$f.sql"
        as_pg valgrind --tool=callgrind --callgrind-out-file="$C/$1.$f.cg" \
            "$PGBIN/postgres" --single -D "$C/data" postgres <"$C/$1.$f.sql" >"$C/$1.$f.log" 2>&1
    done
    w=$(awk '/^(summary|totals):/ {v = $2} END {print v}' "$C/$1.warm.cg")
    n=$(awk '/^(summary|totals):/ {v = $2} END {print v}' "$C/$1.full.cg")
    echo "$1: $(( (n - w) / calls )) instructions per call"
}
echo "mq $(sed -n "s/^default_version = '\(.*\)'/\1/p" /usr/share/postgresql/15/extension/mq.control) (installed), $N calls each"
count send "SELECT mq.send('b', '{\"order\": 12345, \"note\": \"hello world\"}');"
count read_ack "SELECT mq.ack('b', id) FROM mq.read('b', 1);"
count read100_ack100 "SELECT mq.ack('b', array_agg(id)) FROM mq.read('b', 100);" "$NB"
