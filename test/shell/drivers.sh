#!/usr/bin/env bash
# The natural calls from the drivers applications use, against the suite's
# cluster (MQ_TEST_PORT): psycopg 3 and psycopg2 (Debian's python3-psycopg,
# python3-psycopg2, with Debian's /usr/bin/python3), and node-pg (npm's
# `pg`, or Debian's node-pg where Node comes from Debian).  node-pg sends
# every parameter untyped: mq.ack($1, $2) must work for one id and for an
# array, as must archive, nack and set_vt (test/drivers/*).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/test/lib.sh"
W=${1:?usage: drivers.sh WORKDIR}
PORT=${MQ_TEST_PORT:?set MQ_TEST_PORT to the port of the test cluster}
DB=mq_drivers
psql_() { "$PGBIN/psql" -X -qAt -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres "$@"; }
trap 'psql_ -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true' EXIT
psql_ -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
psql_ -d "$DB" -c "CREATE EXTENSION mq"

echo "== psycopg 3 and psycopg2"
/usr/bin/python3 -c 'import psycopg, psycopg2; print("psycopg", psycopg.__version__, "psycopg2", psycopg2.__version__.split()[0])'
/usr/bin/python3 "$here/test/drivers/psycopg_check.py" "host=127.0.0.1 port=$PORT user=postgres dbname=$DB"

echo "== node-pg"
command -v node >/dev/null || { echo "FAIL: node is not installed (test/deps.sh installs it)"; exit 1; }
# Debian's node-pg lives in /usr/share/nodejs; otherwise npm's, cached in
# .drivers/ of the checkout (ignored by git).
export NODE_PATH=/usr/share/nodejs:$here/.drivers/node_modules
if ! node -e "require('pg')" 2>/dev/null; then
    command -v npm >/dev/null || { echo "FAIL: neither Debian's node-pg nor npm is available"; exit 1; }
    echo "installing pg@8 from npm into .drivers/"
    npm install --silent --no-audit --no-fund --prefix "$here/.drivers" pg@8 >"$W/npm.log" 2>&1 ||
        { cat "$W/npm.log"; echo "FAIL: npm install pg failed"; exit 1; }
fi
node -e "console.log('node', process.version, 'pg', require('pg/package.json').version)"
node "$here/test/drivers/node_pg_check.js" "postgres://postgres@127.0.0.1:$PORT/$DB"
echo "drivers ok"
