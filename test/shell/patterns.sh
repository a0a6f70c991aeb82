#!/usr/bin/env bash
# README.md, docs/operations.md, docs/patterns.md and docs/security.md are
# executable documentation: run every sql code block of each, in order, in
# one psql session with ON_ERROR_STOP, in a fresh database of the suite's cluster (MQ_TEST_PORT).
# The blocks' DO ... ASSERT statements (and DO blocks that expect a
# refusal) are the checks; any error or failed assertion fails the test.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/test/lib.sh"
W=${1:?usage: patterns.sh WORKDIR}
PORT=${MQ_TEST_PORT:?set MQ_TEST_PORT to the port of the test cluster}
DB=mq_patterns
psql_() { "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres "$@"; }
fence=$(printf '\140\140\140')   # three backticks
trap 'psql_ -d postgres -qc "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true' EXIT

# run_doc FILE MIN_BLOCKS: the sql blocks of FILE in a fresh database.
run_doc() {
    local doc rel name blocks
    doc=$(realpath -m "$here/docs/$1"); rel=${doc#"$here"/}
    name=$(basename "$1" .md)
    awk -v f="$fence" '$0 == f "sql" { on = 1; next } $0 == f { on = 0; next } on' "$doc" >"$W/$name.sql"
    blocks=$(grep -cx "${fence}sql" "$doc")
    [ "$blocks" -ge "$2" ] || { echo "FAIL: expected at least $2 sql blocks in $rel, found $blocks"; exit 1; }
    psql_ -d postgres -qc "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB" >/dev/null
    psql_ -d postgres -qc "CREATE DATABASE $DB"
    psql_ -d "$DB" -qc "CREATE EXTENSION IF NOT EXISTS mq"
    if ! psql_ -d "$DB" -f "$W/$name.sql" >"$W/$name.out" 2>&1; then
        cat "$W/$name.out"
        echo "FAIL: $rel did not run cleanly"
        exit 1
    fi
    echo "$rel: $blocks sql blocks ran, every assertion held"
}

# README.md: the example as pasted into psql in a fresh database, then its
# roles (made by the example; gone before and after)
readme_roles="billing_app, web, workers, ops"
psql_ -d postgres -qc "DROP ROLE IF EXISTS $readme_roles" >/dev/null 2>&1 || true
run_doc ../README.md 2
psql_ -d postgres -qc "DROP DATABASE IF EXISTS $DB" -c "DROP ROLE IF EXISTS $readme_roles" >/dev/null
grep -A3 'order_id' "$W/README.out" | grep -qx ' *1001' ||
    { cat "$W/README.out"; echo "FAIL: the README example did not ship order 1001"; exit 1; }
grep -qE '^ \{"order": 9999\} \| rolled back \(delivery 5\)$' "$W/README.out" ||
    { cat "$W/README.out"; echo "FAIL: the README example's failing message did not reach orders_dead after 5 attempts"; exit 1; }

run_doc operations.md 1
run_doc patterns.md 5
# pattern 2: the failed attempt counted as delivery 1
grep -qE '^ +2 \| rolled back \(delivery 1\)$' "$W/patterns.out" ||
    { cat "$W/patterns.out"; echo "FAIL: the rolled-back attempt was not counted as delivery 1"; exit 1; }
# the documented outcomes of deliveries 2 and 3 in pattern 3
grep -A2 'second_delivery_first_time' "$W/patterns.out" | grep -qx ' t' ||
    { cat "$W/patterns.out"; echo "FAIL: the second delivery did not see a first time"; exit 1; }
grep -A2 'third_delivery_first_time' "$W/patterns.out" | grep -qx ' f' ||
    { cat "$W/patterns.out"; echo "FAIL: the third delivery was not recognised as processed"; exit 1; }

run_doc security.md 6
# the documented answers of "checking who may do what"
grep -A2 'web_sends' "$W/security.out" | grep -qE '^ t +\| t +\| f$' ||
    { cat "$W/security.out"; echo "FAIL: mq.has_privilege did not answer as documented"; exit 1; }
