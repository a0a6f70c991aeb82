#!/usr/bin/env bash
# Shared helpers for mq's test and demo scripts: start, stop and talk to a
# PostgreSQL 15 cluster that runs as a non-root user (the `postgres` OS user
# when we are root), in a directory of our own, on a free port.

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

# Run a command as the cluster's OS user.
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# Print a TCP port on 127.0.0.1 that nothing listens on, below the kernel's
# ephemeral range: a port from that range may be taken by some client's
# outgoing connection by the time the server (re)starts on it.
free_port() {
    local p lo=32768 hi=60999
    read -r lo hi < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
    if [ "$lo" -gt 12000 ]; then hi=$((lo - 1)); lo=10000;
    elif [ "$hi" -lt 64000 ]; then lo=$((hi + 1)); hi=65535;
    else lo=20000; hi=60000; fi
    for p in $(shuf -i "$lo-$hi" -n 50); do
        if ! (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

# cluster_init DIR PORT [PRELOAD(yes|no)]: initdb into DIR/data.
cluster_init() {
    local dir=$1 port=$2 preload=${3:-yes}
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
    as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C >"$dir/initdb.log" 2>&1
    {
        echo "port = $port"
        echo "listen_addresses = '127.0.0.1'"
        echo "unix_socket_directories = '$dir'"
        echo "max_prepared_transactions = 10"
        echo "max_connections = 150"
        echo "fsync = off"
        echo "log_line_prefix = '%m [%p] '"
        if [ "$preload" = yes ]; then echo "shared_preload_libraries = 'mq'"; fi
    } | as_pg tee -a "$dir/data/postgresql.conf" >/dev/null
}

cluster_start() {
    local dir=$1
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
}

# cluster_stop DIR [MODE]
cluster_stop() {
    local dir=$1 mode=${2:-fast}
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m "$mode" -w -t 60 stop >/dev/null 2>&1 || true
    fi
}

# Helpers of the shell tests that run their own cluster in $C on $PORT and
# talk to database $DB (a test may define its own variants after sourcing).
fail() { echo "FAIL: $*" >&2; echo "--- server log tail ---" >&2; tail -n 40 "$C/server.log" >&2 || true; exit 1; }
psql_() { "$PGBIN/psql" -X -qAt -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres "$@"; }
q() { psql_ -d "$DB" -c "$1"; }
expect() {   # expect WHAT EXPECTED ACTUAL
    if [ "$2" != "$3" ]; then fail "$1: expected [$2], got [$3]"; fi
    echo "ok: $1 ($3)"
}
