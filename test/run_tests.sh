#!/usr/bin/env bash
# The whole mq test suite (`make test`), on throwaway clusters that are
# always stopped and removed, even on failure:
#   1. pg_regress (test/sql, expected/) on a cluster with mq preloaded
#   2. the same pg_regress tests on a cluster WITHOUT shared_preload_libraries
#      (the SQL API must work there too; expected output is identical)
#   3. isolation specs (test/specs) on the preloaded cluster
#   4. libpq C programs (test/client/*.c): concurrency, stress
#   5. shell tests (test/shell/*.sh): crash, dump/restore, drop extension
# Last line: "N passed, M failed"; exit status non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh

PGXS_DIR=$("$PGBIN/pg_config" --pgxs | xargs dirname | xargs dirname)
PG_REGRESS=$PGXS_DIR/test/regress/pg_regress
PG_ISOLATION=$PGXS_DIR/test/isolation/pg_isolation_regress

WORK=$(mktemp -d /tmp/mq-test.XXXXXX)
chmod 755 "$WORK"
PASS=0
FAIL=0
FAILED_NAMES=()

cleanup() {
    local pidfile
    for pidfile in $(find "$WORK" -name postmaster.pid 2>/dev/null); do
        as_pg "$PGBIN/pg_ctl" -D "$(dirname "$pidfile")" -m immediate -w stop >/dev/null 2>&1 || true
    done
    # MQ_TEST_LOGS=DIR keeps what each test printed (figures included).
    if [ -n "${MQ_TEST_LOGS:-}" ]; then
        mkdir -p "$MQ_TEST_LOGS" && cp "$WORK"/*.log "$MQ_TEST_LOGS"/ 2>/dev/null
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

record() {   # record NAME STATUS
    if [ "$2" = 0 ]; then
        PASS=$((PASS + 1)); echo "ok      $1"
    else
        FAIL=$((FAIL + 1)); FAILED_NAMES+=("$1"); echo "FAILED  $1"
    fi
}

# Count each test of a pg_regress / isolation run from its output.
count_regress() {   # count_regress PREFIX LOGFILE RC
    local prefix=$1 log=$2 rc=$3 n=0 line name st
    while IFS= read -r line; do
        if [[ "$line" =~ ^(test|[[:space:]]+)[[:space:]]*([A-Za-z0-9_-]+)[[:space:]]+\.\.\.[[:space:]]+(ok|FAILED|failed) ]]; then
            name=${BASH_REMATCH[2]}; st=${BASH_REMATCH[3]}
            n=$((n + 1))
            if [ "$st" = ok ]; then record "$prefix/$name" 0; else record "$prefix/$name" 1; fi
        fi
    done < "$log"
    if [ "$n" = 0 ] || { [ "$rc" != 0 ] && ! grep -qE '\.\.\. (FAILED|failed)' "$log"; }; then
        cat "$log"
        record "$prefix (runner)" 1
    fi
}

show_diffs() {
    if [ -s regression.diffs ]; then
        echo "---- regression.diffs ----"
        cat regression.diffs
        echo "--------------------------"
    fi
}

REGRESS_TESTS=$(sed -e 's/#.*//' test/regress_schedule | xargs)
ISOLATION_TESTS=$(cd test/specs && ls *.spec | sed 's/\.spec$//' | xargs)

echo "== mq test suite (work dir $WORK)"

# --- 1. pg_regress, preloaded ------------------------------------------------
MAIN=$WORK/main
PORT=$(free_port)
cluster_init "$MAIN" "$PORT" yes
cluster_start "$MAIN" || { cat "$MAIN/server.log"; echo "0 passed, 1 failed"; exit 1; }
export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres

rm -rf regression.diffs regression.out
"$PG_REGRESS" --inputdir=test --outputdir=. --bindir="$PGBIN" \
    --host=127.0.0.1 --port="$PORT" --user=postgres --dbname=mq_regress \
    $REGRESS_TESTS >"$WORK/regress.log" 2>&1
rc=$?
cat "$WORK/regress.log" | grep -E '\.\.\.' | sed 's/^/  /' >/dev/null
count_regress regress "$WORK/regress.log" $rc
show_diffs

# --- 2. pg_regress, not preloaded ---------------------------------------------
NOPRE=$WORK/nopreload
PORT2=$(free_port)
cluster_init "$NOPRE" "$PORT2" no
if cluster_start "$NOPRE"; then
    rm -rf results regression.diffs regression.out
    "$PG_REGRESS" --inputdir=test --outputdir=. --bindir="$PGBIN" \
        --host=127.0.0.1 --port="$PORT2" --user=postgres --dbname=mq_regress \
        $REGRESS_TESTS >"$WORK/regress2.log" 2>&1
    rc=$?
    count_regress regress-nopreload "$WORK/regress2.log" $rc
    show_diffs
    cluster_stop "$NOPRE"
else
    cat "$NOPRE/server.log"; record "regress-nopreload (start)" 1
fi

# --- 3. isolation ---------------------------------------------------------------
if [ -n "$ISOLATION_TESTS" ]; then
    rm -rf results regression.diffs regression.out
    "$PG_ISOLATION" --inputdir=test --outputdir=. --bindir="$PGBIN" \
        --host=127.0.0.1 --port="$PORT" --user=postgres --dbname=mq_isolation \
        $ISOLATION_TESTS >"$WORK/iso.log" 2>&1
    rc=$?
    count_regress isolation "$WORK/iso.log" $rc
    show_diffs
fi

# --- 4. libpq C programs ----------------------------------------------------------
for src in test/client/*.c; do
    [ -e "$src" ] || continue
    name=$(basename "$src" .c)
    bin=$WORK/$name
    if ! gcc -Wall -Wextra -Werror -O2 -o "$bin" "$src" -I/usr/include/postgresql -lpq 2>"$WORK/$name.cc.log"; then
        cat "$WORK/$name.cc.log"; record "client/$name (compile)" 1; continue
    fi
    if timeout 600 "$bin" "host=127.0.0.1 port=$PORT user=postgres dbname=postgres" >"$WORK/$name.log" 2>&1; then
        record "client/$name" 0
    else
        cat "$WORK/$name.log"; record "client/$name" 1
    fi
done

# --- 5. shell tests (each may start clusters of its own under its work dir) -----
export MQ_TEST_PORT=$PORT MQ_TEST_WORK=$WORK
for t in test/shell/*.sh; do
    [ -e "$t" ] || continue
    name=$(basename "$t" .sh)
    mkdir -p "$WORK/sh-$name"; chmod 755 "$WORK/sh-$name"
    if timeout 600 bash "$t" "$WORK/sh-$name" >"$WORK/$name.log" 2>&1; then
        record "shell/$name" 0
    else
        cat "$WORK/$name.log"; record "shell/$name" 1
    fi
done

cluster_stop "$MAIN"
if [ "$FAIL" -gt 0 ]; then
    echo "failed: ${FAILED_NAMES[*]}"
    echo "server log tail:"; tail -n 30 "$MAIN/server.log" 2>/dev/null
fi
echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
