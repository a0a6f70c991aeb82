#!/usr/bin/env bash
# docs/patterns.md is executable documentation: run every sql code block of it,
# in order, in one psql session with ON_ERROR_STOP, in a fresh database of
# the suite's cluster (MQ_TEST_PORT).  The blocks' DO ... ASSERT statements
# are the checks; any error or failed assertion fails the test.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/test/lib.sh"
W=${1:?usage: patterns.sh WORKDIR}
PORT=${MQ_TEST_PORT:?set MQ_TEST_PORT to the port of the test cluster}
DB=mq_patterns
psql_() { "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres "$@"; }

fence=$(printf '\140\140\140')   # three backticks
awk -v f="$fence" '$0 == f "sql" { on = 1; next } $0 == f { on = 0; next } on' "$here/docs/patterns.md" >"$W/patterns.sql"
blocks=$(grep -cx "${fence}sql" "$here/docs/patterns.md")
[ "$blocks" -ge 5 ] || { echo "FAIL: expected at least 5 sql blocks in docs/patterns.md, found $blocks"; exit 1; }

psql_ -d postgres -qc "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB" >/dev/null
psql_ -d postgres -qc "CREATE DATABASE $DB"
trap 'psql_ -d postgres -qc "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true' EXIT
psql_ -d "$DB" -qc "CREATE EXTENSION mq"
if ! psql_ -d "$DB" -f "$W/patterns.sql" >"$W/patterns.out" 2>&1; then
    cat "$W/patterns.out"
    echo "FAIL: docs/patterns.md did not run cleanly"
    exit 1
fi
# the documented outcomes of deliveries 2 and 3 in pattern 3
grep -A2 'second_delivery_first_time' "$W/patterns.out" | grep -qx ' t' ||
    { cat "$W/patterns.out"; echo "FAIL: the second delivery did not see a first time"; exit 1; }
grep -A2 'third_delivery_first_time' "$W/patterns.out" | grep -qx ' f' ||
    { cat "$W/patterns.out"; echo "FAIL: the third delivery was not recognised as processed"; exit 1; }
echo "docs/patterns.md: $blocks sql blocks ran, every assertion held"
