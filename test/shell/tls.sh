#!/usr/bin/env bash
# TLS: mq's libpq client suite (test/client/*.c) passes when every TCP
# connection is encrypted.  On a preloaded cluster of our own with a
# throwaway self-signed certificate, ssl = on, and a pg_hba.conf that
# accepts TCP only over TLS (hostssl trust, hostnossl reject):
#   1. a plain (sslmode=disable) connection is refused by pg_hba.conf;
#   2. a session opened with sslmode=require is encrypted (pg_stat_ssl),
#      and so is one with sslmode=verify-full against our certificate;
#   3. an mq round trip over TLS with psql: create a queue, send, read
#      (the message is leased), ack (the queue is empty);
#   4. each client program, given a conninfo with sslmode=require, exits 0;
#      while it runs, every TCP backend it opened is seen to be encrypted
#      (sampled from pg_stat_ssl over the Unix socket) and none is plain.
# Needs the openssl command (Debian: package openssl, which postgresql-15
# pulls in through ssl-cert); without it the test fails, it does not skip.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/test/lib.sh"
W=${1:?usage: tls.sh WORKDIR}
C=$W/tls
DB=postgres
T0=$SECONDS

command -v openssl >/dev/null ||
    { echo "FAIL: the openssl command is missing (apt-get install openssl); it makes the test certificate" >&2; exit 1; }

# The postgres OS user must be able to reach the cluster directory below $W.
mkdir -p "$W"
chmod go+rx "$W"
PORT=$(free_port)

cleanup() {
    cluster_stop "$C" immediate
}
trap cleanup EXIT

# Every TCP connection below asks for TLS unless it says otherwise; this
# also covers lib.sh's q and psql_, which connect to 127.0.0.1.
export PGSSLMODE=require
CONN="host=127.0.0.1 port=$PORT user=postgres dbname=$DB sslmode=require"

# A query over the Unix socket (not subject to the TLS rule), for looking
# at the server while a client runs.
sock() { "$PGBIN/psql" -X -qAt -v ON_ERROR_STOP=1 -h "$C" -p "$PORT" -U postgres -d "$DB" -c "$1"; }

# --- the cluster, with a self-signed certificate and TLS-only TCP access
# A fresh cluster even when the work dir is reused (stop a leftover first).
cluster_stop "$C" immediate
rm -rf "$C"
cluster_init "$C" "$PORT" yes || true
grep -q "^port = $PORT\$" "$C/data/postgresql.conf" 2>/dev/null ||
    { cat "$C/initdb.log" >&2; fail "initdb failed"; }
(
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
        -addext "subjectAltName = IP:127.0.0.1" \
        -keyout "$W/server.key" -out "$W/server.crt" >"$W/openssl.log" 2>&1
) || { cat "$W/openssl.log" >&2; fail "openssl could not make the certificate"; }
owner=()
if [ "$(id -u)" = 0 ]; then owner=(-o postgres -g postgres); fi
install "${owner[@]}" -m 644 "$W/server.crt" "$C/data/server.crt"
install "${owner[@]}" -m 600 "$W/server.key" "$C/data/server.key"
chmod 644 "$W/server.crt"    # psql reads it as the root certificate below
{
    echo "ssl = on"
    echo "ssl_cert_file = '$C/data/server.crt'"
    echo "ssl_key_file = '$C/data/server.key'"
} | as_pg tee -a "$C/data/postgresql.conf" >/dev/null
{
    echo "# Written by test/shell/tls.sh: TCP only with TLS."
    echo "local     all  all                 trust"
    echo "hostssl   all  all  127.0.0.1/32   trust"
    echo "hostnossl all  all  127.0.0.1/32   reject"
} | as_pg tee "$C/data/pg_hba.conf" >/dev/null
cluster_start "$C" || { cat "$C/server.log"; fail "the cluster did not start with ssl = on"; }
expect "ssl is on" on "$(sock "SHOW ssl")"

# --- 1. plain TCP is refused
if out=$(PGSSLMODE=disable "$PGBIN/psql" -X -qAt -h 127.0.0.1 -p "$PORT" -U postgres -d "$DB" -c "SELECT 1" 2>&1); then
    fail "a connection with sslmode=disable was accepted: [$out]"
fi
case $out in
    *pg_hba.conf*"no encryption"*) echo "ok: sslmode=disable is refused ($(echo "$out" | grep -o 'pg_hba.conf.*' | head -n 1))" ;;
    *) fail "sslmode=disable failed, but not because of pg_hba.conf: [$out]" ;;
esac

# --- 2. TLS sessions
expect "sslmode=require: this session is encrypted" t \
    "$(q "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")"
TLSINFO=$(PGSSLMODE=verify-full PGSSLROOTCERT="$W/server.crt" \
    q "SELECT ssl::text || ' ' || version || ' ' || cipher FROM pg_stat_ssl WHERE pid = pg_backend_pid()") ||
    fail "sslmode=verify-full with our certificate as root did not connect"
case $TLSINFO in
    "true "*) echo "ok: sslmode=verify-full against our certificate: ${TLSINFO#true }" ;;
    *) fail "sslmode=verify-full: session not encrypted: [$TLSINFO]" ;;
esac

# --- 3. an mq round trip over TLS
q "CREATE EXTENSION mq"
q "SELECT mq.create_queue('tls_rt')" >/dev/null
ID=$(q "SELECT mq.send('tls_rt', '{\"over\": \"tls\", \"n\": 1}')")
[[ "$ID" =~ ^[0-9]+$ ]] || fail "mq.send over TLS returned [$ID]"
echo "ok: mq.send over TLS (id $ID)"
expect "mq.read over TLS: the message, first delivery" "$ID|tls|1|1" \
    "$(q "SELECT id || '|' || (payload->>'over') || '|' || (payload->>'n') || '|' || deliveries FROM mq.read('tls_rt', 10, '1 hour')")"
expect "after the read (leased, so not visible): depth|in_flight" "0|1" \
    "$(q "SELECT depth || '|' || in_flight FROM mq.queues WHERE queue_name = 'tls_rt'")"
expect "mq.ack over TLS" t "$(q "SELECT mq.ack('tls_rt', $ID)")"
expect "after the ack: depth|in_flight" "0|0" \
    "$(q "SELECT depth || '|' || in_flight FROM mq.queues WHERE queue_name = 'tls_rt'")"
q "SELECT mq.drop_queue('tls_rt')" >/dev/null

# --- 4. the client programs, each with sslmode=require
TCP_BACKENDS="SELECT count(*) FILTER (WHERE s.ssl) || ' ' || count(*) FILTER (WHERE NOT s.ssl)
    FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
    WHERE a.backend_type = 'client backend' AND a.client_addr IS NOT NULL"
SUMMARY=()
for src in "$here"/test/client/*.c; do
    [ -e "$src" ] || continue
    name=$(basename "$src" .c)
    bin=$W/$name
    gcc -Wall -Wextra -Werror -O2 -o "$bin" "$src" -I/usr/include/postgresql -lpq 2>"$W/$name.cc.log" ||
        { cat "$W/$name.cc.log" >&2; fail "client/$name does not compile"; }
    t0=$(date +%s%N)
    timeout 600 "$bin" "$CONN" >"$W/$name.log" 2>&1 &
    pid=$!
    # Sample the TCP backends twice a second while the client runs.
    max_tls=0 samples=0
    while kill -0 "$pid" 2>/dev/null; do
        if s=$(sock "$TCP_BACKENDS" 2>/dev/null); then
            read -r n_tls n_plain <<<"$s"
            if [ "$n_plain" != 0 ]; then
                kill "$pid" 2>/dev/null || true
                wait "$pid" 2>/dev/null || true
                fail "client/$name: $n_plain TCP backend(s) without TLS"
            fi
            [ "$n_tls" -le "$max_tls" ] || max_tls=$n_tls
            samples=$((samples + 1))
        fi
        sleep 0.5
    done
    if wait "$pid"; then rc=0; else rc=$?; fi
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    secs=$(printf '%d.%01d' $((ms / 1000)) $((ms % 1000 / 100)))
    if [ "$rc" != 0 ]; then
        tail -n 40 "$W/$name.log" >&2
        fail "client/$name over TLS exited with $rc after $secs s"
    fi
    # A client that ran for a while must have been caught with TLS backends.
    if [ "$ms" -ge 2000 ] && [ "$max_tls" = 0 ]; then
        fail "client/$name ran $secs s but no TLS backend of it was seen ($samples samples)"
    fi
    echo "ok: client/$name over TLS in $secs s (up to $max_tls TLS backends at once, none plain; $(tail -n 1 "$W/$name.log"))"
    SUMMARY+=("$name ${secs}s")
done
[ ${#SUMMARY[@]} -gt 0 ] || fail "no client programs in $here/test/client"

# The clients left the server healthy, still answering over TLS only.
expect "after the clients: sslmode=require session encrypted" t \
    "$(q "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")"
if grep -E 'PANIC|TRAP:|server process .* was terminated' "$C/server.log" >&2; then
    fail "the server log shows a crash"
fi

summary=$(IFS=,; echo "${SUMMARY[*]}")
echo "tls ok: clients ${summary//,/, } over sslmode=require; plain TCP refused; psql round trip send/read/ack over TLS (${TLSINFO#true }); $((SECONDS - T0)) s in all"
