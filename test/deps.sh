#!/usr/bin/env bash
# Install what building and testing mq needs on Debian 12, if missing:
# PostgreSQL 15 server, its development files (PGXS, pg_regress,
# pg_isolation_regress), libpq, a C compiler.  Uses apt-get when run as root
# (or through sudo); otherwise says what to install.
set -euo pipefail

need=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql-15)
[ -x /usr/lib/postgresql/15/bin/pg_config ] && [ -f /usr/lib/postgresql/15/lib/pgxs/src/makefiles/pgxs.mk ] \
    && [ -f /usr/include/postgresql/15/server/postgres.h ] || need+=(postgresql-server-dev-15)
[ -f /usr/include/postgresql/libpq-fe.h ] || need+=(libpq-dev)
command -v gcc >/dev/null || need+=(gcc)
command -v make >/dev/null || need+=(make)
[ -x /usr/lib/postgresql/15/bin/pgbench ] || need+=(postgresql-contrib-15)
command -v runuser >/dev/null || need+=(util-linux)
# the drivers and the pooler of the suite's client tests (test/shell/drivers.sh,
# test/shell/pgbouncer.sh): Debian's Python with psycopg 3 and psycopg2,
# PgBouncer, and Node (Debian's, with its node-pg, where there is no Node;
# with another Node, drivers.sh takes pg from npm)
/usr/bin/python3 -c 'import psycopg' 2>/dev/null || need+=(python3-psycopg)
/usr/bin/python3 -c 'import psycopg2' 2>/dev/null || need+=(python3-psycopg2)
[ -x /usr/sbin/pgbouncer ] || need+=(pgbouncer)
command -v node >/dev/null || need+=(nodejs node-pg)
# the metrics checks (test/shell/metrics.sh): a parser of the Prometheus
# text format, and the exporter its query file is for
/usr/bin/python3 -c 'import prometheus_client' 2>/dev/null || need+=(python3-prometheus-client)
[ -x /usr/bin/prometheus-postgres-exporter ] || need+=(prometheus-postgres-exporter)

if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi

echo "mq: installing ${need[*]}" >&2
if [ "$(id -u)" = 0 ]; then
    SUDO=
elif command -v sudo >/dev/null; then
    SUDO=sudo
else
    echo "mq: please install as root: apt-get install ${need[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${need[@]}" >/dev/null
# Debian starts a default cluster on install; mq uses clusters of its own.
