#!/usr/bin/env bash
# mq benchmark suite -- run with `make bench` (after `make install`) or
# `bash bench/run.sh` from the repository root.
#
# Creates a throwaway PostgreSQL cluster (as the `postgres` OS user, in a temp
# dir, on a free port), runs every workload against mq and against the
# hand-written SQL baseline (bench/baseline.sql), and prints one results table
# to stdout (also written to bench/results/latest.md).  Progress goes to stderr.
#
# Knobs (environment):
#   BENCH_SECONDS        duration of each timed pgbench run        (15; quick 3)
#   BENCH_CHURN          send/read/ack cycles in the churn test    (1000000; quick 20000)
#   BENCH_HOLD_SECONDS   duration of the held-xmin consumer run    (60; quick 12)
#   BENCH_HOLD_WINDOW    first/last window of the held-xmin run, s (10; quick 4)
#   BENCH_PREFILL        prefill for the held-xmin run             (1000000; quick 50000)
#   BENCH_READ_PREFILL   prefill for the read+ack 1/txn runs       (max(400000, 40000*secs); quick 40000*secs)
#   BENCH_BATCH_PREFILL  prefill for the read+ack 100/txn runs     (max(1200000, 200000*secs); quick 200000*secs)
#   BENCH_LAT_TXNS       read+ack txns of each churn latency probe (3000; quick 1000)
#   BENCH_CHURN_PAUSE    pause after churn before measuring, s     (15; quick 3)
#   BENCH_WAKE_MSGS      messages in the wake-up latency run (8)    (2000; quick 300)
#   BENCH_FILTER_BACKLOG backlog of the filtered-read runs (15)     (100000; quick 20000)
#   BENCH_SCRAPE_QUEUES  queues of the metrics scrape (16)          (1000)
#   BENCH_QUICK=1        shrink everything for a smoke test (< ~3 minutes)
#   BENCH_PARTITIONS     partitions of the partitioned queue in workload 12 (4)
#   BENCH_MQ_PARTITIONS  partitions of mq's queue in every other workload (1)
#   BENCH_ONLY=LIST      run only these workloads, e.g. BENCH_ONLY="1 6" (default: 1 to 17;
#                        12 to 15 and 17 compare mq with mq)
#   BENCH_BASELINE_ONLY=1  developer aid: skip mq entirely (no extension needed)
#   BENCH_PG_CONF=LINES  developer aid: extra postgresql.conf lines (e.g. "mq.vacuum_naptime = 0")
#   PG_CONFIG            pg_config to locate the server binaries (PostgreSQL 15)
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
SCRIPTS=$BENCH_DIR/scripts
RESULTS=$BENCH_DIR/results

# ---------------------------------------------------------------- settings
QUICK=${BENCH_QUICK:-0}
[[ $QUICK == 1 ]] || QUICK=0
if [[ $QUICK == 1 ]]; then
    d_secs=3 d_churn=20000 d_hold=12 d_window=4 d_prefill=50000
    d_lat=1000 d_pause=3 d_wake=300 d_fbacklog=20000
else
    d_secs=15 d_churn=1000000 d_hold=60 d_window=10 d_prefill=1000000
    d_lat=3000 d_pause=15 d_wake=2000 d_fbacklog=100000
fi
SECS=${BENCH_SECONDS:-$d_secs}
CHURN=${BENCH_CHURN:-$d_churn}
HOLD=${BENCH_HOLD_SECONDS:-$d_hold}
WINDOW=${BENCH_HOLD_WINDOW:-$d_window}
PREFILL=${BENCH_PREFILL:-$d_prefill}
LAT_TXNS=${BENCH_LAT_TXNS:-$d_lat}
CHURN_PAUSE=${BENCH_CHURN_PAUSE:-$d_pause}
WAKE_MSGS=${BENCH_WAKE_MSGS:-$d_wake}
FILTER_BACKLOG=${BENCH_FILTER_BACKLOG:-$d_fbacklog}
if [[ $QUICK == 1 ]]; then
    d_rprefill=$((SECS * 40000)); d_bprefill=$((SECS * 200000))
else
    d_rprefill=$((SECS * 40000)); ((d_rprefill >= 400000)) || d_rprefill=400000
    d_bprefill=$((SECS * 200000)); ((d_bprefill >= 1200000)) || d_bprefill=1200000
fi
READ_PREFILL=${BENCH_READ_PREFILL:-$d_rprefill}
BATCH_PREFILL=${BENCH_BATCH_PREFILL:-$d_bprefill}
ONLY=${BENCH_ONLY:-1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17}
BPARTS=${BENCH_PARTITIONS:-4}
MQ_PARTS_ALL=${BENCH_MQ_PARTITIONS:-1}
BASELINE_ONLY=${BENCH_BASELINE_ONLY:-0}
[[ $BASELINE_ONLY == 1 ]] || BASELINE_ONLY=0

for v in SECS CHURN HOLD WINDOW PREFILL LAT_TXNS CHURN_PAUSE READ_PREFILL BATCH_PREFILL WAKE_MSGS FILTER_BACKLOG BPARTS MQ_PARTS_ALL; do
    if ! [[ ${!v} =~ ^[0-9]+$ ]] || ((${!v} < 1)); then
        echo "bench: $v must be a positive integer (got '${!v}')" >&2; exit 1
    fi
done
if ((2 * WINDOW > HOLD)); then
    echo "bench: BENCH_HOLD_WINDOW ($WINDOW) must be at most half of BENCH_HOLD_SECONDS ($HOLD)" >&2
    exit 1
fi

PAYLOAD='{"order": 12345, "note": "hello world"}'
Q=bench                 # mq queue name
MQ_TABLE='mq."q_bench"' # its message table
MQ_ARCHIVE='mq."a_bench"'

# ---------------------------------------------------------------- binaries
if [[ -n ${PG_CONFIG:-} ]]; then
    :
elif [[ -x /usr/lib/postgresql/15/bin/pg_config ]]; then
    PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
else
    PG_CONFIG=pg_config
fi
BIN=$("$PG_CONFIG" --bindir)
PKGLIBDIR=$("$PG_CONFIG" --pkglibdir)
SHAREDIR=$("$PG_CONFIG" --sharedir)
for b in initdb pg_ctl postgres pgbench psql; do
    if [[ ! -x $BIN/$b ]]; then
        echo "bench: $BIN/$b not found (is the PostgreSQL 15 server installed?)" >&2; exit 1
    fi
done

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

if [[ $BASELINE_ONLY == 0 ]]; then
    if [[ ! -f $SHAREDIR/extension/mq.control || ! -f $PKGLIBDIR/mq.so ]]; then
        echo "bench: the mq extension is not installed ($SHAREDIR/extension/mq.control or $PKGLIBDIR/mq.so missing)." >&2
        echo "bench: run 'make install' first (make bench does not install it)." >&2
        exit 1
    fi
fi

# Run-as-postgres helper (the server refuses to run as root).
if [[ $(id -u) == 0 ]]; then
    id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' OS user"
    as_pg() { runuser -u postgres -- "$@"; }
else
    as_pg() { "$@"; }
fi

# ---------------------------------------------------------------- cluster
TMP=$(mktemp -d /tmp/mqbench.XXXXXX)
chmod 700 "$TMP"
[[ $(id -u) == 0 ]] && chown postgres: "$TMP"
DATA=$TMP/data
LOGS=$TMP/logs
mkdir -p "$LOGS"
BG_PIDS=()
PGB_PID=
SERVER_STARTED=0

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local p
    [[ -n ${PGB_PID:-} ]] && kill "$PGB_PID" 2>/dev/null
    for p in "${BG_PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    if [[ $SERVER_STARTED == 1 && -f $DATA/postmaster.pid ]]; then
        as_pg "$BIN/pg_ctl" -D "$DATA" stop -m fast -w -t 30 >/dev/null 2>&1 ||
            as_pg "$BIN/pg_ctl" -D "$DATA" stop -m immediate -w -t 30 >/dev/null 2>&1 || true
    fi
    for p in "${BG_PIDS[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    # keep the pgbench logs of the last run for inspection
    if [[ -d $LOGS ]] && mkdir -p "$RESULTS" 2>/dev/null; then
        rm -rf "$RESULTS/last-logs"
        cp -r "$LOGS" "$RESULTS/last-logs" 2>/dev/null || true
        [[ -f $TMP/server.log ]] && cp "$TMP/server.log" "$RESULTS/last-logs/server.log" 2>/dev/null
    fi
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

log "initdb in $DATA"
as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C >"$TMP/initdb.log" 2>&1 ||
    { cat "$TMP/initdb.log" >&2; die "initdb failed"; }

PRELOAD="shared_preload_libraries = 'mq'"
[[ $BASELINE_ONLY == 1 ]] && PRELOAD="# (BENCH_BASELINE_ONLY: mq not preloaded)"
cat >>"$DATA/postgresql.conf" <<EOF

# ---- mq benchmark settings
listen_addresses = '127.0.0.1'
unix_socket_directories = '$TMP'
$PRELOAD
shared_buffers = 1GB
max_connections = 100
max_wal_size = 4GB
checkpoint_timeout = 15min
autovacuum = on
logging_collector = off
log_min_messages = warning
EOF
# Developer aid: extra settings, e.g. BENCH_PG_CONF="mq.vacuum_naptime = 0".
[[ -n ${BENCH_PG_CONF:-} ]] && printf '%s\n' "$BENCH_PG_CONF" >>"$DATA/postgresql.conf"

PORT=
for attempt in 1 2 3 4 5 6 7 8; do
    cand=$((20000 + RANDOM % 30000))
    port_free "$cand" || continue
    log "starting server on 127.0.0.1:$cand (socket dir $TMP)"
    rm -f "$TMP/server.log"
    SERVER_STARTED=1
    if as_pg "$BIN/pg_ctl" -D "$DATA" -l "$TMP/server.log" -o "-p $cand" -w -t 60 start >/dev/null 2>&1; then
        PORT=$cand
        break
    fi
    if grep -qiE 'could not (bind|create listen)|address already in use' "$TMP/server.log" 2>/dev/null; then
        continue
    fi
    tail -n 30 "$TMP/server.log" >&2 || true
    die "the server did not start (see log above; is mq.so loadable via shared_preload_libraries?)"
done
[[ -n $PORT ]] || die "could not find a free port for the server"

export PGHOST=$TMP PGPORT=$PORT PGUSER=postgres PGDATABASE=postgres
unset PGSERVICE PGOPTIONS PGPASSWORD PGSSLMODE 2>/dev/null || true

psqlc() { "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -At "$@"; }
sql() { psqlc -c "$1"; }

sql "CREATE DATABASE bench" >/dev/null
export PGDATABASE=bench

if [[ $BASELINE_ONLY == 0 ]]; then
    if ! out=$(psqlc -c "CREATE EXTENSION mq" 2>&1); then
        echo "bench: CREATE EXTENSION mq failed:" >&2
        echo "$out" >&2
        echo "bench: is the mq extension installed correctly ('make install')?" >&2
        exit 1
    fi
    MQ_VERSION=$(sql "SELECT extversion FROM pg_extension WHERE extname = 'mq'")
else
    MQ_VERSION="(skipped)"
fi
PG_VERSION=$(sql "SHOW server_version")

# ---------------------------------------------------------------- helpers
ERRORS=0
ROWS=$TMP/rows.tsv
: >"$ROWS"

# row WORKLOAD METRIC MQ BASELINE RATIO NOTES
row() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "${6:-}" >>"$ROWS"; }

isnum() { [[ ${1:-} =~ ^-?[0-9]+([.][0-9]+)?$ ]]; }
# fmt_rate N -> integer with thousands separators
fmt_rate() {
    isnum "${1:-}" || { echo "${1:-n/a}"; return; }
    awk -v x="$1" 'BEGIN { s = sprintf("%.0f", x); n = length(s); o = "";
        neg = (substr(s,1,1) == "-"); if (neg) { s = substr(s,2); n-- }
        for (i = 1; i <= n; i++) { o = o substr(s,i,1); if ((n-i) % 3 == 0 && i < n) o = o "," }
        print (neg ? "-" : "") o }'
}
fmt2() { isnum "${1:-}" && awk -v x="$1" 'BEGIN { printf "%.2f\n", x }' || echo "${1:-n/a}"; }
fmt3() { isnum "${1:-}" && awk -v x="$1" 'BEGIN { printf "%.3f\n", x }' || echo "${1:-n/a}"; }
# ratio A B -> A/B with 2 decimals, or n/a
ratio() {
    if isnum "${1:-}" && isnum "${2:-}" && awk -v b="$2" 'BEGIN { exit !(b != 0) }'; then
        awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", a / b }'
    else
        echo "n/a"
    fi
}
mul() { isnum "${1:-}" && isnum "${2:-}" && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", a * b }' || echo "ERR"; }
divi() { isnum "${1:-}" && isnum "${2:-}" && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", (b != 0 ? a / b : 0) }' || echo "ERR"; }
fmt_bytes() {
    isnum "${1:-}" || { echo "${1:-n/a}"; return; }
    awk -v b="$1" 'BEGIN { if (b >= 1073741824) printf "%.2f GB\n", b / 1073741824;
        else if (b >= 1048576) printf "%.1f MB\n", b / 1048576;
        else printf "%.0f kB\n", b / 1024 }'
}

# pgbench output parsing
pgb_tps() { awk '/^tps = / { print $3; exit }' "$1"; }
pgb_lat() { awk '/^latency average = / { print $4; exit }' "$1"; }
pgb_processed() { awk -F': *' '/number of transactions actually processed/ { split($2, a, "/"); print a[1]; exit }' "$1"; }

jobs_for() { if (($1 >= 2)); then echo 2; else echo 1; fi; }

# pgb NAME CLIENTS SCRIPT [extra pgbench args...]
# Runs pgbench, output in $LOGS/NAME.log; returns non-zero (after reporting) on failure.
pgb() {
    local name=$1 clients=$2 script=$3; shift 3
    local out=$LOGS/$name.log
    local rc=0
    # in the background + wait, so that a signal to this script acts at once
    "$BIN/pgbench" -n -M prepared -c "$clients" -j "$(jobs_for "$clients")" \
        -f "$script" "$@" >"$out" 2>&1 &
    PGB_PID=$!
    wait "$PGB_PID" || rc=$?
    PGB_PID=
    if ((rc == 0)) && [[ -n $(pgb_tps "$out") ]]; then
        return 0
    fi
    ERRORS=$((ERRORS + 1))
    log "ERROR: pgbench run '$name' failed; excerpt of $out:"
    { grep -E 'ERROR|FATAL|aborted|error' "$out" | sort | uniq -c | sort -rn | head -n 8; } >&2 || true
    tail -n 3 "$out" >&2 || true
    return 1
}

# Run a SQL statement, tolerating failure (reported, counted); prints the result.
try_sql() {
    local out
    if out=$(psqlc -c "$1" 2>&1); then
        printf '%s\n' "$out"
    else
        ERRORS=$((ERRORS + 1))
        log "ERROR: SQL failed: $1"
        printf '%s\n' "$out" | head -n 5 >&2
        return 1
    fi
}

# ---- per-system operations (SYS is "mq" or "bq")
# The mq queue's partitions (BENCH_MQ_PARTITIONS; workload 12 sets its own).
MQ_PARTS=$MQ_PARTS_ALL
# Its message tables, comma-separated.
mq_tables() {
    local k out="mq.q_$Q"
    for ((k = 1; k < MQ_PARTS; k++)); do out="$out, mq.q${k}_$Q"; done
    echo "$out"
}
reset_q() {
    case $1 in
    mq) try_sql "SELECT mq.drop_queue('$Q', true); SELECT mq.create_queue('$Q', partitions => $MQ_PARTS, history => $MQ_HISTORY);" >/dev/null ;;
    bq) psqlc -f "$BENCH_DIR/baseline.sql" >/dev/null 2>"$TMP/baseline.err" ||
            { cat "$TMP/baseline.err" >&2; die "loading bench/baseline.sql failed"; } ;;
    esac
}
drop_q() {
    case $1 in
    mq) try_sql "SELECT mq.drop_queue('$Q', true)" >/dev/null || true ;;
    bq) sql "DROP TABLE IF EXISTS bq; DROP TABLE IF EXISTS raw" >/dev/null ;;
    esac
}
table_of() { case $1 in mq) echo "$MQ_TABLE" ;; bq) echo "bq" ;; esac; }
relname_of() { case $1 in mq) echo "q_$Q" ;; bq) echo "bq" ;; esac; }
schema_of() { case $1 in mq) echo "mq" ;; bq) echo "public" ;; esac; }

# prefill SYS N : N messages in statements of 10,000, each its own transaction
# (mq: all of priority 0, or with MQ_PREFILL_PRIORITIES=1 each of a random
# priority 0 to 9, the same sequence every run; with MQ_PREFILL_GROUPS=G
# each in one of G FIFO groups, at random, the same sequence every run)
MQ_PREFILL_PRIORITIES=0
MQ_PREFILL_GROUPS=0
# reset_q makes mq's queue with lifecycle history on (workload 17) or off
MQ_HISTORY=false
prefill() {
    local sys=$1 n=$2 k stmt
    local i=0
    {
        [[ $sys == mq && ( $MQ_PREFILL_PRIORITIES == 1 || $MQ_PREFILL_GROUPS -gt 0 ) ]] && echo "SELECT setseed(0.5);"
        while ((i < n)); do
            k=$((n - i)); ((k <= 10000)) || k=10000
            case $sys in
            mq) if ((MQ_PREFILL_GROUPS > 0)); then
                    printf "SELECT count(*) FROM mq.send_batch('%s', array_fill('%s'::jsonb, ARRAY[%d]), group_ids => (SELECT array_agg('g' || floor(random() * %d)::int) FROM generate_series(1, %d)));\n" "$Q" "$PAYLOAD" "$k" "$MQ_PREFILL_GROUPS" "$k"
                elif [[ $MQ_PREFILL_PRIORITIES == 1 ]]; then
                    printf "SELECT count(*) FROM mq.send_batch('%s', array_fill('%s'::jsonb, ARRAY[%d]), priorities => (SELECT array_agg(floor(random() * 10)::int) FROM generate_series(1, %d)));\n" "$Q" "$PAYLOAD" "$k" "$k"
                else
                    printf "SELECT count(*) FROM mq.send_batch('%s', array_fill('%s'::jsonb, ARRAY[%d]));\n" "$Q" "$PAYLOAD" "$k"
                fi ;;
            bq) printf "INSERT INTO bq(payload) SELECT '%s'::jsonb FROM generate_series(1, %d);\n" "$PAYLOAD" "$k" ;;
            esac
            i=$((i + k))
        done
    } >"$TMP/prefill.sql"
    if ! psqlc -f "$TMP/prefill.sql" >/dev/null 2>"$TMP/prefill.err"; then
        ERRORS=$((ERRORS + 1))
        log "ERROR: prefill of $sys failed:"; head -n 5 "$TMP/prefill.err" >&2
        return 1
    fi
}
# Bring a freshly prefilled table to a steady state (hint bits, stats) and
# flush dirty buffers so that the timed run does not pay for either.
settle() {
    if [[ $1 == mq ]]; then
        sql "VACUUM (ANALYZE) $(mq_tables)" >/dev/null 2>&1 || true
    else
        sql "VACUUM (ANALYZE) $(table_of "$1")" >/dev/null 2>&1 || true
    fi
    sql "CHECKPOINT" >/dev/null
}
# messages in the queue that are not yet acked
backlog() {
    if [[ $1 == mq && $MQ_PARTS -gt 1 ]]; then
        try_sql "SELECT depth + in_flight + delayed FROM mq.queues WHERE queue_name = '$Q'" || echo "ERR"
    else
        try_sql "SELECT count(*) FROM $(table_of "$1")" || echo "ERR"
    fi
}
relsize() {
    if [[ $1 == mq ]]; then
        try_sql "SELECT sum(pg_total_relation_size(t)) FROM unnest('{$(mq_tables)}'::regclass[]) t" || echo "ERR"
    else
        try_sql "SELECT pg_total_relation_size('$(table_of "$1")')" || echo "ERR"
    fi
}
dead_tup() {
    sql "SELECT pg_stat_force_next_flush()" >/dev/null 2>&1 || true
    if [[ $1 == mq ]]; then
        try_sql "SELECT coalesce(sum(n_dead_tup), 0) FROM pg_stat_user_tables
                  WHERE relid = ANY ('{$(mq_tables)}'::regclass[])" || echo "ERR"
    else
        try_sql "SELECT coalesce(n_dead_tup, 0) FROM pg_stat_user_tables
                  WHERE schemaname = '$(schema_of "$1")' AND relname = '$(relname_of "$1")'" || echo "ERR"
    fi
}
# send N more messages (to restore a depth)
topup() {
    local n=$2
    ((n > 0)) || return 0
    prefill "$1" "$n"
}
label() { case $1 in mq) echo "mq" ;; bq) echo "baseline" ;; raw) echo "raw INSERT" ;; esac; }
SYSTEMS=(mq bq)
[[ $BASELINE_ONLY == 1 ]] && SYSTEMS=(bq)
want() { [[ " $ONLY " == *" $1 "* ]]; }
empty_note() { # SYS BACKLOG_AFTER -> warning text if the queue ran dry
    if [[ $2 == 0 ]]; then echo "$(label "$1") queue RAN EMPTY, rate not meaningful (raise the prefill)"; fi
}
join_notes() { # join the non-empty arguments with "; "
    local out="" a
    for a in "$@"; do
        [[ -n $a ]] || continue
        if [[ -n $out ]]; then out="$out; $a"; else out=$a; fi
    done
    echo "$out"
}

# consume_run NAME SYS CLIENTS SCRIPT MSGS_PER_TXN PREFILL
# A timed consumer run on a freshly prefilled queue.  If the queue runs dry
# (the rate would then count empty reads), it is redone once with 4x the
# prefill.  Sets CR_RATE (msgs/s), CR_PREFILL, CR_NOTE.
consume_run() {
    local name=$1 sys=$2 clients=$3 script=$4 per=$5 pf=$6 attempt b tps
    CR_RATE=ERR CR_NOTE="" CR_PREFILL=$pf
    for attempt in 1 2; do
        reset_q "$sys"
        prefill "$sys" "$pf" || return 0
        settle "$sys"
        CR_PREFILL=$pf
        if ! pgb "$name" "$clients" "$script" -T "$SECS"; then
            CR_RATE=ERR; return 0
        fi
        tps=$(pgb_tps "$LOGS/$name.log")
        CR_RATE=$(mul "$tps" "$per")
        b=$(backlog "$sys")
        if [[ $b != 0 ]]; then
            CR_NOTE=""; return 0
        fi
        CR_NOTE="$(label "$sys") queue RAN EMPTY at prefill $(fmt_rate "$pf"), rate not meaningful"
        if ((attempt == 1)); then
            # (the observed rate includes empty reads, so it cannot size the refill)
            pf=$((pf * 4))
            log "   $(label "$sys") queue ran empty; redoing with prefill $pf"
        fi
    done
}

START_TS=$(date +%s)
log "settings: seconds=$SECS churn=$CHURN hold=$HOLD window=$WINDOW prefill=$PREFILL read_prefill=$READ_PREFILL batch_prefill=$BATCH_PREFILL filter_backlog=$FILTER_BACKLOG quick=$QUICK"

# ================================================================ 1. send 1/txn
if want 1; then
    for c in 1 8; do
        declare -A R=()
        for sys in "${SYSTEMS[@]}" raw; do
            log "== workload 1: send 1 msg/txn, $c client(s): $(label "$sys")"
            case $sys in mq) reset_q mq ;; *) reset_q bq ;; esac
            sql "CHECKPOINT" >/dev/null
            if pgb "w1_send_${sys}_c$c" "$c" "$SCRIPTS/${sys}_send.sql" -T "$SECS"; then
                R[$sys]=$(pgb_tps "$LOGS/w1_send_${sys}_c$c.log")
            else
                R[$sys]=ERR
            fi
            case $sys in mq) drop_q mq ;; *) drop_q bq ;; esac
        done
        row "1. send 1 msg/txn, $c client(s)" "msgs/s" "$(fmt_rate "${R[mq]:-}")" "$(fmt_rate "${R[bq]:-}")" \
            "$(ratio "${R[mq]:-}" "${R[bq]:-}")" \
            "raw INSERT $(fmt_rate "${R[raw]:-}") msgs/s; mq/raw $(ratio "${R[mq]:-}" "${R[raw]:-}"); baseline/raw $(ratio "${R[bq]:-}" "${R[raw]:-}")"
        unset R
    done
fi

# ================================================================ 2. send_batch 100/txn
if want 2; then
    declare -A R=()
    for sys in "${SYSTEMS[@]}"; do
        log "== workload 2: send_batch 100/txn, 4 clients: $(label "$sys")"
        reset_q "$sys"
        sql "CHECKPOINT" >/dev/null
        if pgb "w2_batch_$sys" 4 "$SCRIPTS/${sys}_send_batch.sql" -T "$SECS"; then
            R[$sys]=$(mul "$(pgb_tps "$LOGS/w2_batch_$sys.log")" 100)
        else
            R[$sys]=ERR
        fi
        drop_q "$sys"
    done
    row "2. send_batch 100 msgs/txn, 4 clients" "msgs/s" "$(fmt_rate "${R[mq]:-}")" "$(fmt_rate "${R[bq]:-}")" \
        "$(ratio "${R[mq]:-}" "${R[bq]:-}")" ""
    unset R
fi

# ================================================================ 3. read+ack 1/txn
if want 3; then
    for c in 4 16; do
        declare -A R=() E=() PF=()
        for sys in "${SYSTEMS[@]}"; do
            log "== workload 3: read 1 + ack 1 per txn, $c clients: $(label "$sys") (prefill $READ_PREFILL)"
            consume_run "w3_read1_${sys}_c$c" "$sys" "$c" "$SCRIPTS/${sys}_read1.sql" 1 "$READ_PREFILL"
            R[$sys]=$CR_RATE E[$sys]=$CR_NOTE PF[$sys]=$(fmt_rate "$CR_PREFILL")
            drop_q "$sys"
        done
        row "3. read 1 + ack 1 per txn, $c clients" "msgs/s" "$(fmt_rate "${R[mq]:-}")" "$(fmt_rate "${R[bq]:-}")" \
            "$(ratio "${R[mq]:-}" "${R[bq]:-}")" "$(join_notes "prefill mq ${PF[mq]:-n/a} / baseline ${PF[bq]:-n/a}" "${E[mq]:-}" "${E[bq]:-}")"
        unset R E PF
    done
fi

# ================================================================ 4. read+ack 100/txn
if want 4; then
    declare -A R=() E=() PF=()
    for sys in "${SYSTEMS[@]}"; do
        log "== workload 4: read 100 + ack 100 per txn, 4 clients: $(label "$sys") (prefill $BATCH_PREFILL)"
        consume_run "w4_read100_$sys" "$sys" 4 "$SCRIPTS/${sys}_read100.sql" 100 "$BATCH_PREFILL"
        R[$sys]=$CR_RATE E[$sys]=$CR_NOTE PF[$sys]=$(fmt_rate "$CR_PREFILL")
        drop_q "$sys"
    done
    row "4. read 100 + ack 100 per txn, 4 clients" "msgs/s" "$(fmt_rate "${R[mq]:-}")" "$(fmt_rate "${R[bq]:-}")" \
        "$(ratio "${R[mq]:-}" "${R[bq]:-}")" "$(join_notes "prefill mq ${PF[mq]:-n/a} / baseline ${PF[bq]:-n/a}" "${E[mq]:-}" "${E[bq]:-}")"
    unset R E PF
fi

# ================================================================ 5. mixed producers/consumers
if want 5; then
    declare -A P=() C=() B0=() B1=()
    MIX_PREFILL=10000
    for sys in "${SYSTEMS[@]}"; do
        log "== workload 5: mixed 4 producers + 4 consumers: $(label "$sys") (prefill $MIX_PREFILL)"
        reset_q "$sys"
        prefill "$sys" "$MIX_PREFILL" || true
        settle "$sys"
        B0[$sys]=$(backlog "$sys")
        pgb "w5_mixed_prod_$sys" 4 "$SCRIPTS/${sys}_send.sql" -T "$SECS" &
        ppid=$!; BG_PIDS+=("$ppid")
        pgb "w5_mixed_cons_$sys" 4 "$SCRIPTS/${sys}_read1.sql" -T "$SECS" &
        cpid=$!; BG_PIDS+=("$cpid")
        okp=0 okc=0
        wait "$ppid" && okp=1
        wait "$cpid" && okc=1
        BG_PIDS=()
        # (the background subshells cannot update ERRORS for us)
        ((okp && okc)) || ERRORS=$((ERRORS + 1))
        B1[$sys]=$(backlog "$sys")
        produced=$(pgb_processed "$LOGS/w5_mixed_prod_$sys.log")
        if ((okp)) && isnum "$produced" && isnum "${B0[$sys]}" && isnum "${B1[$sys]}"; then
            consumed=$((produced - (B1[$sys] - B0[$sys])))
            P[$sys]=$(divi "$produced" "$SECS")
            C[$sys]=$(divi "$consumed" "$SECS")
        else
            P[$sys]=ERR; C[$sys]=ERR
        fi
        ((okc)) || C[$sys]=ERR
        drop_q "$sys"
    done
    W="5. mixed 4 producers + 4 consumers"
    row "$W" "produced msgs/s" "$(fmt_rate "${P[mq]:-}")" "$(fmt_rate "${P[bq]:-}")" "$(ratio "${P[mq]:-}" "${P[bq]:-}")" ""
    row "$W" "consumed msgs/s" "$(fmt_rate "${C[mq]:-}")" "$(fmt_rate "${C[bq]:-}")" "$(ratio "${C[mq]:-}" "${C[bq]:-}")" \
        "consumed = produced - backlog growth; producers send 1/txn, consumers read 1 + ack per txn"
    row "$W" "backlog start -> end" "$(fmt_rate "${B0[mq]:-}") -> $(fmt_rate "${B1[mq]:-}")" \
        "$(fmt_rate "${B0[bq]:-}") -> $(fmt_rate "${B1[bq]:-}")" "" "queue depth (unacked rows)"
    unset P C B0 B1
fi

# ================================================================ 6. churn
if want 6; then
    declare -A TPS=() S0=() S1=() L0=() L1=() D1=() AR=()
    CHURN_DEPTH=10000
    per_client=$(((CHURN + 3) / 4))
    for sys in "${SYSTEMS[@]}"; do
        log "== workload 6: churn $CHURN send/read/ack cycles, 4 clients: $(label "$sys")"
        reset_q "$sys"
        prefill "$sys" "$CHURN_DEPTH" || true
        settle "$sys"
        S0[$sys]=$(relsize "$sys")
        if pgb "w6_lat_before_$sys" 1 "$SCRIPTS/${sys}_read1.sql" -t "$LAT_TXNS"; then
            L0[$sys]=$(pgb_lat "$LOGS/w6_lat_before_$sys.log")
        else
            L0[$sys]=ERR
        fi
        b=$(backlog "$sys")
        isnum "$b" && topup "$sys" $((CHURN_DEPTH - b))
        if pgb "w6_churn_$sys" 4 "$SCRIPTS/${sys}_cycle.sql" -t "$per_client"; then
            TPS[$sys]=$(pgb_tps "$LOGS/w6_churn_$sys.log")
        else
            TPS[$sys]=ERR
        fi
        log "   pausing ${CHURN_PAUSE}s (no manual VACUUM)"
        sleep "$CHURN_PAUSE"
        b=$(backlog "$sys")
        isnum "$b" && topup "$sys" $((CHURN_DEPTH - b))
        S1[$sys]=$(relsize "$sys")
        D1[$sys]=$(dead_tup "$sys")
        if [[ $sys == mq ]]; then
            AR[$sys]=$(psqlc -c "SELECT pg_total_relation_size('$MQ_ARCHIVE')" 2>/dev/null || echo "")
        fi
        if pgb "w6_lat_after_$sys" 1 "$SCRIPTS/${sys}_read1.sql" -t "$LAT_TXNS"; then
            L1[$sys]=$(pgb_lat "$LOGS/w6_lat_after_$sys.log")
        else
            L1[$sys]=ERR
        fi
        drop_q "$sys"
    done
    W="6. churn $(fmt_rate "$CHURN") cycles, 4 clients"
    row "$W" "cycles/s" "$(fmt_rate "${TPS[mq]:-}")" "$(fmt_rate "${TPS[bq]:-}")" "$(ratio "${TPS[mq]:-}" "${TPS[bq]:-}")" \
        "1 cycle = send 1, then read 1 + ack in one txn; queue depth $(fmt_rate $CHURN_DEPTH)"
    row "$W" "table size before" "$(fmt_bytes "${S0[mq]:-}")" "$(fmt_bytes "${S0[bq]:-}")" "$(ratio "${S0[mq]:-}" "${S0[bq]:-}")" \
        "pg_total_relation_size of the queue table"
    archive_note=""
    isnum "${AR[mq]:-}" && archive_note="mq archive table $(fmt_bytes "${AR[mq]}") (not included)"
    row "$W" "table size after" "$(fmt_bytes "${S1[mq]:-}")" "$(fmt_bytes "${S1[bq]:-}")" "$(ratio "${S1[mq]:-}" "${S1[bq]:-}")" \
        "$(join_notes "after a ${CHURN_PAUSE}s pause, no manual VACUUM (mq: its worker vacuums, mq.vacuum_naptime; baseline: autovacuum)" "n_dead_tup mq $(fmt_rate "${D1[mq]:-}") / baseline $(fmt_rate "${D1[bq]:-}")" "$archive_note")"
    row "$W" "size after/before" "$(ratio "${S1[mq]:-}" "${S0[mq]:-}")" "$(ratio "${S1[bq]:-}" "${S0[bq]:-}")" "" "growth factor"
    row "$W" "read+ack latency before (ms)" "$(fmt3 "${L0[mq]:-}")" "$(fmt3 "${L0[bq]:-}")" "$(ratio "${L0[mq]:-}" "${L0[bq]:-}")" \
        "1 client, $(fmt_rate "$LAT_TXNS") txns, pgbench latency average"
    row "$W" "read+ack latency after (ms)" "$(fmt3 "${L1[mq]:-}")" "$(fmt3 "${L1[bq]:-}")" "$(ratio "${L1[mq]:-}" "${L1[bq]:-}")" \
        "same probe after churn, depth restored to $(fmt_rate $CHURN_DEPTH)"
    row "$W" "latency after/before" "$(ratio "${L1[mq]:-}" "${L0[mq]:-}")" "$(ratio "${L1[bq]:-}" "${L0[bq]:-}")" "" "slow-down factor"
    unset TPS S0 S1 L0 L1 D1 AR
fi

# ================================================================ 7. held xmin
HOLDER_APP=mqbench_xmin_holder
start_holder() {
    local sleep_s=$((HOLD + 15))
    PGAPPNAME=$HOLDER_APP "$BIN/psql" -X -q -At >"$LOGS/w7_holder_$1.log" 2>&1 <<EOF &
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) FROM pg_class;
SELECT pg_sleep($sleep_s);
COMMIT;
EOF
    HOLDER_PID=$!
    BG_PIDS+=("$HOLDER_PID")
    local i
    for i in $(seq 1 100); do
        if [[ $(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = '$HOLDER_APP'
                      AND backend_xmin IS NOT NULL AND query LIKE '%pg_sleep%'") == 1 ]]; then
            return 0
        fi
        sleep 0.1
    done
    log "ERROR: the snapshot-holding session did not start"
    ERRORS=$((ERRORS + 1))
    return 1
}
stop_holder() {
    sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '$HOLDER_APP'" >/dev/null || true
    wait "$HOLDER_PID" 2>/dev/null || true
    BG_PIDS=()
}
# window_avg FILE N first|last -> average tps of the first/last N progress lines
window_avg() {
    awk -v n="$2" -v which="$3" '
        /^progress: / { for (i = 1; i <= NF; i++) if ($(i) == "tps," || $(i) == "tps") { t[++m] = $(i-1); break } }
        END {
            if (m < n) { print "ERR"; exit }
            s = 0; from = (which == "first") ? 1 : m - n + 1
            for (i = from; i < from + n; i++) s += t[i]
            printf "%.3f\n", s / n
        }' "$1"
}
if want 7; then
    declare -A F=() L=() D=() E=() X=()
    for sys in "${SYSTEMS[@]}"; do
        log "== workload 7: held xmin, 4 consumers for ${HOLD}s: $(label "$sys") (prefill $PREFILL)"
        reset_q "$sys"
        prefill "$sys" "$PREFILL" || true
        settle "$sys"
        if start_holder "$sys"; then
            log "   snapshot held (xmin $(sql "SELECT backend_xmin FROM pg_stat_activity WHERE application_name = '$HOLDER_APP'")); consumers running"
            if pgb "w7_hold_$sys" 4 "$SCRIPTS/${sys}_read1.sql" -T "$HOLD" --progress=1; then
                F[$sys]=$(window_avg "$LOGS/w7_hold_$sys.log" "$WINDOW" first)
                L[$sys]=$(window_avg "$LOGS/w7_hold_$sys.log" "$WINDOW" last)
                X[$sys]=$(pgb_tps "$LOGS/w7_hold_$sys.log")
            else
                F[$sys]=ERR; L[$sys]=ERR
            fi
            sleep 1
            D[$sys]=$(dead_tup "$sys")
            E[$sys]=$(empty_note "$sys" "$(backlog "$sys")")
            stop_holder
        else
            F[$sys]=ERR; L[$sys]=ERR
            stop_holder
        fi
        drop_q "$sys"
    done
    W="7. held xmin, 4 consumers, ${HOLD}s"
    row "$W" "msgs/s first ${WINDOW}s" "$(fmt_rate "${F[mq]:-}")" "$(fmt_rate "${F[bq]:-}")" "$(ratio "${F[mq]:-}" "${F[bq]:-}")" \
        "$(join_notes "prefill $(fmt_rate "$PREFILL"); whole run: mq $(fmt_rate "${X[mq]:-}") / baseline $(fmt_rate "${X[bq]:-}") msgs/s" "${E[mq]:-}" "${E[bq]:-}")"
    row "$W" "msgs/s last ${WINDOW}s" "$(fmt_rate "${L[mq]:-}")" "$(fmt_rate "${L[bq]:-}")" "$(ratio "${L[mq]:-}" "${L[bq]:-}")" ""
    row "$W" "last/first" "$(ratio "${L[mq]:-}" "${F[mq]:-}")" "$(ratio "${L[bq]:-}" "${F[bq]:-}")" "" "1.00 = no degradation"
    row "$W" "n_dead_tup at end" "$(fmt_rate "${D[mq]:-}")" "$(fmt_rate "${D[bq]:-}")" "" "pg_stat_user_tables of the queue table"
    unset F L D E X
fi

# ================================================================ 8. wake-up latency
# From a sender's COMMIT returning to the consumer having the message: mq's
# waiting read against the loop a user writes without it (read the baseline
# table; when nothing came, sleep 100 ms).  bench/wake_latency.c.
if want 8; then
    LAT_BIN=$TMP/wake_latency
    if gcc -O2 -Wall -Wextra -Werror -o "$LAT_BIN" "$BENCH_DIR/wake_latency.c" \
        -I"$("$PG_CONFIG" --includedir)" -L"$("$PG_CONFIG" --libdir)" -lpq 2>"$TMP/lat.cc.log"; then
        declare -A P50=() P99=() PMAX=() PN=()
        for sys in "${SYSTEMS[@]}"; do
            log "== workload 8: wake-up latency over $WAKE_MSGS messages: $(label "$sys")"
            case $sys in
            mq) try_sql "SELECT mq.drop_queue('lat', true); SELECT mq.create_queue('lat')" >/dev/null; mode=wait ;;
            bq) reset_q bq; mode=poll ;;
            esac
            if out=$("$LAT_BIN" "host=$TMP port=$PORT user=postgres dbname=bench" "$mode" "$WAKE_MSGS" 2>"$LOGS/w8_$sys.err"); then
                read -r P50[$sys] P99[$sys] PMAX[$sys] _ PN[$sys] <<<"$out"
                echo "$out" >"$LOGS/w8_$sys.log"
            else
                ERRORS=$((ERRORS + 1)); log "ERROR: wake_latency $mode failed"; cat "$LOGS/w8_$sys.err" >&2
            fi
            case $sys in mq) try_sql "SELECT mq.drop_queue('lat', true)" >/dev/null ;; bq) drop_q bq ;; esac
        done
        W="8. wake-up latency, 1 consumer"
        row "$W" "p50 ms" "$(fmt3 "${P50[mq]:-}")" "$(fmt3 "${P50[bq]:-}")" "$(ratio "${P50[mq]:-}" "${P50[bq]:-}")" \
            "commit returned -> consumer has it; ${PN[mq]:-?} / ${PN[bq]:-?} messages, 1 per txn, 2-8 ms apart; baseline polls every 100 ms; baseline/mq $(ratio "${P50[bq]:-}" "${P50[mq]:-}")"
        row "$W" "p99 ms" "$(fmt3 "${P99[mq]:-}")" "$(fmt3 "${P99[bq]:-}")" "$(ratio "${P99[mq]:-}" "${P99[bq]:-}")" "target: p50 < 1 ms, p99 < 5 ms"
        row "$W" "max ms" "$(fmt3 "${PMAX[mq]:-}")" "$(fmt3 "${PMAX[bq]:-}")" "$(ratio "${PMAX[mq]:-}" "${PMAX[bq]:-}")" ""
        unset P50 P99 PMAX PN
    else
        ERRORS=$((ERRORS + 1)); log "ERROR: compiling bench/wake_latency.c failed"; cat "$TMP/lat.cc.log" >&2
    fi
fi

# ================================================================ 9. notify on/off
# The cost of a queue's notify option to senders: 8 clients, 1 message per
# transaction, to the same queue with notify off and then on.  Both columns
# are mq; "baseline" here is mq with notify off.
if want 9; then
    declare -A R=() SUM=() CNT=()
    for round in 1 2; do
        for n in off on; do
            log "== workload 9: send 1 msg/txn, 8 clients, notify $n (round $round of 2)"
            reset_q mq
            [[ $n == on ]] && try_sql "SELECT mq.alter_queue('$Q', notify => true)" >/dev/null
            sql "CHECKPOINT" >/dev/null
            if pgb "w9_notify_${n}_$round" 8 "$SCRIPTS/mq_send.sql" -T "$SECS"; then
                SUM[$n]=$(awk -v a="${SUM[$n]:-0}" -v b="$(pgb_tps "$LOGS/w9_notify_${n}_$round.log")" 'BEGIN { print a + b }')
                CNT[$n]=$((${CNT[$n]:-0} + 1))
            fi
            drop_q mq
        done
    done
    for n in off on; do
        if ((${CNT[$n]:-0} == 2)); then R[$n]=$(divi "${SUM[$n]}" 2); else R[$n]=ERR; fi
    done
    row "9. send 1 msg/txn, 8 clients, notify on vs off" "msgs/s" "$(fmt_rate "${R[on]:-}")" "$(fmt_rate "${R[off]:-}")" \
        "$(ratio "${R[on]:-}" "${R[off]:-}")" "mq column: notify on; baseline column: the same queue with notify off; mean of 2 interleaved runs each"
    unset R SUM CNT
fi

# ================================================================ 10. bulk load
# One statement loads N messages: mq.send_batch of an N-element array (built
# in the same statement) against the INSERT ... SELECT of the same rows into
# the baseline table; and, for mq, N as one call against N as calls of
# 10,000 in one transaction (send_batch must stay linear).  Timed with
# clock_timestamp() inside the server, excluding connection set-up.
if want 10; then
    if [[ $QUICK == 1 ]]; then BULK_SIZES="10000 100000"; else BULK_SIZES="100000 1000000"; fi
    # bulk_ms SYS N CHUNK -> milliseconds for N messages in statements of CHUNK
    bulk_ms() {
        local sys=$1 n=$2 chunk=$3 stmt
        case $sys in
        mq) stmt="PERFORM count(*) FROM mq.send_batch('$Q', (SELECT array_agg('$PAYLOAD'::jsonb) FROM generate_series(1, $chunk)))" ;;
        bq) stmt="INSERT INTO bq(payload) SELECT '$PAYLOAD'::jsonb FROM generate_series(1, $chunk)" ;;
        esac
        try_sql "DO \$\$ DECLARE t0 timestamptz := clock_timestamp(); BEGIN
                   FOR i IN 1..$((n / chunk)) LOOP $stmt; END LOOP;
                   RAISE NOTICE 'bulk_ms %', round(extract(epoch FROM clock_timestamp() - t0) * 1000);
                 END \$\$" 2>&1 | awk '/bulk_ms/ { print $NF }'
    }
    for n in $BULK_SIZES; do
        declare -A R=()
        for sys in "${SYSTEMS[@]}"; do
            log "== workload 10: bulk load of $n messages in one statement: $(label "$sys")"
            reset_q "$sys"
            sql "CHECKPOINT" >/dev/null
            R[$sys]=$(bulk_ms "$sys" "$n" "$n")
            drop_q "$sys"
        done
        reset_q mq
        sql "CHECKPOINT" >/dev/null
        log "== workload 10: bulk load of $n messages as calls of 10,000: $(label mq)"
        chunked=$(bulk_ms mq "$n" 10000)
        drop_q mq
        rate() { isnum "${1:-}" && awk -v n="$n" -v ms="$1" 'BEGIN { if (ms > 0) printf "%.0f\n", n * 1000 / ms; else print "ERR" }' || echo ERR; }
        row "10. bulk load: $(fmt_rate "$n") msgs in one statement" "msgs/s" "$(fmt_rate "$(rate "${R[mq]:-}")")" \
            "$(fmt_rate "$(rate "${R[bq]:-}")")" "$(ratio "$(rate "${R[mq]:-}")" "$(rate "${R[bq]:-}")")" \
            "mq send_batch ${R[mq]:-ERR} ms, INSERT...SELECT ${R[bq]:-ERR} ms; mq as $((n / 10000)) calls of 10,000: ${chunked:-ERR} ms (time one call / chunked $(ratio "${R[mq]:-}" "${chunked:-}"))"
        unset R
    done
fi

# ================================================================ 11. xmin of a waiting read
# A read waiting on an empty queue runs one statement for its whole wait,
# and a statement holds its snapshot: its backend_xmin stays where it was
# when the wait began, while a writer (pgbench, plain INSERTs, 2 clients)
# consumes transaction ids.  Sampled after WAIT_S/2 seconds of a WAIT_S
# wait; the baseline column is the same for SELECT pg_sleep(WAIT_S), any
# statement of that length.  Figures, not a verdict: docs/operations.md.
declare -A XIDS=()
if want 11; then
    WAIT_S=20; [[ $QUICK == 1 ]] && WAIT_S=6
    declare -A R=()
    reset_q mq
    reset_q bq
    for sys in mq bq; do
        log "== workload 11: backend_xmin during a ${WAIT_S}s $( [[ $sys == mq ]] && echo "mq.read wait" || echo "pg_sleep")"
        case $sys in
        mq) stmt="SELECT count(*) FROM mq.read('$Q', 1, wait => '$WAIT_S seconds')" ;;
        bq) stmt="SELECT pg_sleep($WAIT_S)" ;;
        esac
        PGAPPNAME=mq_bench_waiter psqlc -c "$stmt" >/dev/null 2>&1 &
        wpid=$!
        BG_PIDS+=("$wpid")
        sleep 0.5
        x0=$(sql "SELECT txid_current()")
        pgb "w11_writer_$sys" 2 "$SCRIPTS/raw_send.sql" -T $((WAIT_S / 2)) >/dev/null 2>&1 || true
        R[$sys]=$(sql "SELECT age(backend_xmin) FROM pg_stat_activity WHERE application_name = 'mq_bench_waiter' AND backend_xmin IS NOT NULL")
        XIDS[$sys]=$(( $(sql "SELECT txid_current()") - x0 ))
        wait "$wpid" 2>/dev/null || true
    done
    drop_q mq
    drop_q bq
    row "11. backend_xmin of a ${WAIT_S} s wait, after $((WAIT_S / 2)) s of writes" "xid age" "$(fmt_rate "${R[mq]:-}")" \
        "$(fmt_rate "${R[bq]:-}")" "$(ratio "${R[mq]:-}" "${R[bq]:-}")" \
        "baseline: SELECT pg_sleep(${WAIT_S}); xids consumed meanwhile: $(fmt_rate "${XIDS[mq]:-}") / $(fmt_rate "${XIDS[bq]:-}"); the horizon is held for the wait, no longer"
    unset R
fi

# ================================================================ 12. partitions
# A queue of BENCH_PARTITIONS partitions against the same queue with one
# (both mq: the baseline column is the one-partition queue), at 1, 4 and
# 16 clients, and each under a held xmin.  Interleaved, partitioned first.
if want 12 && [[ $BASELINE_ONLY == 0 ]]; then
    for w in send read1 read100; do
        for c in 1 4 16; do
            declare -A R=() E=()
            for parts in "$BPARTS" 1; do
                MQ_PARTS=$parts
                name="w12_${w}_p${parts}_c$c"
                log "== workload 12: $w, $c client(s), $parts partition(s)"
                case $w in
                send)
                    reset_q mq
                    sql "CHECKPOINT" >/dev/null
                    if pgb "$name" "$c" "$SCRIPTS/mq_send.sql" -T "$SECS"; then
                        R[$parts]=$(pgb_tps "$LOGS/$name.log")
                    else
                        R[$parts]=ERR
                    fi ;;
                read1)
                    consume_run "$name" mq "$c" "$SCRIPTS/mq_read1.sql" 1 "$READ_PREFILL"
                    R[$parts]=$CR_RATE E[$parts]=$CR_NOTE ;;
                read100)
                    consume_run "$name" mq "$c" "$SCRIPTS/mq_read100.sql" 100 "$BATCH_PREFILL"
                    R[$parts]=$CR_RATE E[$parts]=$CR_NOTE ;;
                esac
                drop_q mq
            done
            case $w in
            send) what="send 1 msg/txn" ;;
            read1) what="read 1 + ack 1 per txn" ;;
            read100) what="read 100 + ack 100 per txn" ;;
            esac
            row "12. $BPARTS partitions vs 1: $what, $c client(s)" "msgs/s" "$(fmt_rate "${R[$BPARTS]:-}")" \
                "$(fmt_rate "${R[1]:-}")" "$(ratio "${R[$BPARTS]:-}" "${R[1]:-}")" \
                "$(join_notes "mq column: $BPARTS partitions; baseline column: mq, 1 partition" "${E[$BPARTS]:-}" "${E[1]:-}")"
            unset R E
        done
    done
    declare -A F=() L=()
    for parts in "$BPARTS" 1; do
        MQ_PARTS=$parts
        log "== workload 12: held xmin, 4 consumers for ${HOLD}s, $parts partition(s) (prefill $PREFILL)"
        reset_q mq
        prefill mq "$PREFILL" || true
        settle mq
        if start_holder "mq_p$parts"; then
            if pgb "w12_hold_p$parts" 4 "$SCRIPTS/mq_read1.sql" -T "$HOLD" --progress=1; then
                F[$parts]=$(window_avg "$LOGS/w12_hold_p$parts.log" "$WINDOW" first)
                L[$parts]=$(window_avg "$LOGS/w12_hold_p$parts.log" "$WINDOW" last)
            else
                F[$parts]=ERR; L[$parts]=ERR
            fi
        else
            F[$parts]=ERR; L[$parts]=ERR
        fi
        stop_holder
        drop_q mq
    done
    MQ_PARTS=$MQ_PARTS_ALL
    W="12. $BPARTS partitions vs 1: held xmin, 4 consumers, ${HOLD}s"
    row "$W" "msgs/s first ${WINDOW}s" "$(fmt_rate "${F[$BPARTS]:-}")" "$(fmt_rate "${F[1]:-}")" "$(ratio "${F[$BPARTS]:-}" "${F[1]:-}")" \
        "prefill $(fmt_rate "$PREFILL"); mq column: $BPARTS partitions; baseline column: 1 partition"
    row "$W" "msgs/s last ${WINDOW}s" "$(fmt_rate "${L[$BPARTS]:-}")" "$(fmt_rate "${L[1]:-}")" "$(ratio "${L[$BPARTS]:-}" "${L[1]:-}")" ""
    row "$W" "last/first" "$(ratio "${L[$BPARTS]:-}" "${F[$BPARTS]:-}")" "$(ratio "${L[1]:-}" "${F[1]:-}")" "" "1.00 = no degradation"
    unset F L
fi

# ================================================================ 13. priorities
# mq against mq: a queue whose messages carry random priorities 0 to 9
# (send_batch's priorities, the same sequence every run) against one whose
# messages are all of priority 0 (the baseline column; the queue of
# workload 3): read 1 + ack 1 at 4 and 16 clients as in 3 (priorities
# first), send 1/txn at 4 clients with priority random(0, 9) against 0 (2
# interleaved rounds, as in 9), and the held xmin of 7 on each.
if want 13 && [[ $BASELINE_ONLY == 0 ]]; then
    prio_label() { case $1 in prio) echo "random priorities 0-9" ;; plain) echo "all priority 0" ;; esac; }
    W13="13. priorities 0-9 vs all 0"
    for c in 4 16; do
        declare -A R=() E=() PF=()
        for mode in prio plain; do
            if [[ $mode == prio ]]; then MQ_PREFILL_PRIORITIES=1; else MQ_PREFILL_PRIORITIES=0; fi
            log "== workload 13: read 1 + ack 1 per txn, $c clients, $(prio_label "$mode") (prefill $READ_PREFILL)"
            consume_run "w13_read1_${mode}_c$c" mq "$c" "$SCRIPTS/mq_read1.sql" 1 "$READ_PREFILL"
            R[$mode]=$CR_RATE E[$mode]=$CR_NOTE PF[$mode]=$(fmt_rate "$CR_PREFILL")
            drop_q mq
        done
        MQ_PREFILL_PRIORITIES=0
        row "$W13: read 1 + ack 1 per txn, $c clients" "msgs/s" "$(fmt_rate "${R[prio]:-}")" "$(fmt_rate "${R[plain]:-}")" \
            "$(ratio "${R[prio]:-}" "${R[plain]:-}")" \
            "$(join_notes "mq column: prefill of random priorities 0-9 (send_batch priorities); baseline column: mq, all priority 0; target >= 0.80" \
                "prefill ${PF[prio]:-n/a} / ${PF[plain]:-n/a}" "${E[prio]:+priorities: ${E[prio]}}" "${E[plain]:+all 0: ${E[plain]}}")"
        unset R E PF
    done
    declare -A R=() SUM=() CNT=()
    for round in 1 2; do
        for mode in prio plain; do
            log "== workload 13: send 1 msg/txn, 4 clients, $( [[ $mode == prio ]] && echo "priority random(0, 9)" || echo "priority 0") (round $round of 2)"
            reset_q mq
            sql "CHECKPOINT" >/dev/null
            if [[ $mode == prio ]]; then pmax=9; else pmax=0; fi
            if pgb "w13_send_${mode}_$round" 4 "$SCRIPTS/mq_send_prio.sql" -D pmax=$pmax -T "$SECS"; then
                SUM[$mode]=$(awk -v a="${SUM[$mode]:-0}" -v b="$(pgb_tps "$LOGS/w13_send_${mode}_$round.log")" 'BEGIN { print a + b }')
                CNT[$mode]=$((${CNT[$mode]:-0} + 1))
            fi
            drop_q mq
        done
    done
    for mode in prio plain; do
        if ((${CNT[$mode]:-0} == 2)); then R[$mode]=$(divi "${SUM[$mode]}" 2); else R[$mode]=ERR; fi
    done
    row "$W13: send 1 msg/txn, 4 clients" "msgs/s" "$(fmt_rate "${R[prio]:-}")" "$(fmt_rate "${R[plain]:-}")" \
        "$(ratio "${R[prio]:-}" "${R[plain]:-}")" \
        "mq column: mq.send(..., priority => random(0, 9)); baseline column: the same call with priority 0; mean of 2 interleaved runs each"
    unset R SUM CNT
    declare -A F=() L=() D=() E=() X=()
    for mode in prio plain; do
        if [[ $mode == prio ]]; then MQ_PREFILL_PRIORITIES=1; else MQ_PREFILL_PRIORITIES=0; fi
        log "== workload 13: held xmin, 4 consumers for ${HOLD}s, $(prio_label "$mode") (prefill $PREFILL)"
        reset_q mq
        prefill mq "$PREFILL" || true
        settle mq
        if start_holder "w13_$mode"; then
            if pgb "w13_hold_$mode" 4 "$SCRIPTS/mq_read1.sql" -T "$HOLD" --progress=1; then
                F[$mode]=$(window_avg "$LOGS/w13_hold_$mode.log" "$WINDOW" first)
                L[$mode]=$(window_avg "$LOGS/w13_hold_$mode.log" "$WINDOW" last)
                X[$mode]=$(pgb_tps "$LOGS/w13_hold_$mode.log")
            else
                F[$mode]=ERR; L[$mode]=ERR
            fi
            sleep 1
            D[$mode]=$(dead_tup mq)
            [[ $(backlog mq) == 0 ]] && E[$mode]="the $(prio_label "$mode") queue RAN EMPTY, rate not meaningful (raise the prefill)"
        else
            F[$mode]=ERR; L[$mode]=ERR
        fi
        stop_holder
        drop_q mq
    done
    MQ_PREFILL_PRIORITIES=0
    W="$W13: held xmin, 4 consumers, ${HOLD}s"
    row "$W" "msgs/s first ${WINDOW}s" "$(fmt_rate "${F[prio]:-}")" "$(fmt_rate "${F[plain]:-}")" "$(ratio "${F[prio]:-}" "${F[plain]:-}")" \
        "$(join_notes "prefill $(fmt_rate "$PREFILL"); mq column: random priorities 0-9; baseline column: mq, all priority 0; whole run: $(fmt_rate "${X[prio]:-}") / $(fmt_rate "${X[plain]:-}") msgs/s" "${E[prio]:-}" "${E[plain]:-}")"
    row "$W" "msgs/s last ${WINDOW}s" "$(fmt_rate "${L[prio]:-}")" "$(fmt_rate "${L[plain]:-}")" "$(ratio "${L[prio]:-}" "${L[plain]:-}")" ""
    row "$W" "last/first" "$(ratio "${L[prio]:-}" "${F[prio]:-}")" "$(ratio "${L[plain]:-}" "${F[plain]:-}")" "" "1.00 = no degradation; target >= 0.90"
    row "$W" "n_dead_tup at end" "$(fmt_rate "${D[prio]:-}")" "$(fmt_rate "${D[plain]:-}")" "" "pg_stat_user_tables of the queue table"
    unset F L D E X
fi

# ================================================================ 14. FIFO groups
# mq against mq: a queue whose messages are spread at random over 1,000
# FIFO groups (send_batch's group_ids, the same sequence every run) against
# one without groups (the baseline column; the queue of workload 3): read 1
# + ack 1 at 4 and 16 clients as in 3 (groups first), and the held xmin of
# 7 on each.  A read takes a group's oldest message only while none of the
# group is in flight; each grouped candidate costs one probe of the group
# index.
if want 14 && [[ $BASELINE_ONLY == 0 ]]; then
    grp_label() { case $1 in grp) echo "1,000 FIFO groups" ;; plain) echo "no groups" ;; esac; }
    W14="14. 1,000 FIFO groups vs none"
    for c in 4 16; do
        declare -A R=() E=() PF=()
        for mode in grp plain; do
            if [[ $mode == grp ]]; then MQ_PREFILL_GROUPS=1000; else MQ_PREFILL_GROUPS=0; fi
            log "== workload 14: read 1 + ack 1 per txn, $c clients, $(grp_label "$mode") (prefill $READ_PREFILL)"
            consume_run "w14_read1_${mode}_c$c" mq "$c" "$SCRIPTS/mq_read1.sql" 1 "$READ_PREFILL"
            R[$mode]=$CR_RATE E[$mode]=$CR_NOTE PF[$mode]=$(fmt_rate "$CR_PREFILL")
            drop_q mq
        done
        MQ_PREFILL_GROUPS=0
        row "$W14: read 1 + ack 1 per txn, $c clients" "msgs/s" "$(fmt_rate "${R[grp]:-}")" "$(fmt_rate "${R[plain]:-}")" \
            "$(ratio "${R[grp]:-}" "${R[plain]:-}")" \
            "$(join_notes "mq column: prefill spread over 1,000 groups (send_batch group_ids); baseline column: mq, no groups; target >= 0.80" \
                "prefill ${PF[grp]:-n/a} / ${PF[plain]:-n/a}" "${E[grp]:+groups: ${E[grp]}}" "${E[plain]:+none: ${E[plain]}}")"
        unset R E PF
    done
    declare -A F=() L=() D=() E=() X=()
    for mode in grp plain; do
        if [[ $mode == grp ]]; then MQ_PREFILL_GROUPS=1000; else MQ_PREFILL_GROUPS=0; fi
        log "== workload 14: held xmin, 4 consumers for ${HOLD}s, $(grp_label "$mode") (prefill $PREFILL)"
        reset_q mq
        prefill mq "$PREFILL" || true
        settle mq
        if start_holder "w14_$mode"; then
            if pgb "w14_hold_$mode" 4 "$SCRIPTS/mq_read1.sql" -T "$HOLD" --progress=1; then
                F[$mode]=$(window_avg "$LOGS/w14_hold_$mode.log" "$WINDOW" first)
                L[$mode]=$(window_avg "$LOGS/w14_hold_$mode.log" "$WINDOW" last)
                X[$mode]=$(pgb_tps "$LOGS/w14_hold_$mode.log")
            else
                F[$mode]=ERR; L[$mode]=ERR
            fi
            sleep 1
            D[$mode]=$(dead_tup mq)
            [[ $(backlog mq) == 0 ]] && E[$mode]="the $(grp_label "$mode") queue RAN EMPTY, rate not meaningful (raise the prefill)"
        else
            F[$mode]=ERR; L[$mode]=ERR
        fi
        stop_holder
        drop_q mq
    done
    MQ_PREFILL_GROUPS=0
    W="$W14: held xmin, 4 consumers, ${HOLD}s"
    row "$W" "msgs/s first ${WINDOW}s" "$(fmt_rate "${F[grp]:-}")" "$(fmt_rate "${F[plain]:-}")" "$(ratio "${F[grp]:-}" "${F[plain]:-}")" \
        "$(join_notes "prefill $(fmt_rate "$PREFILL"); mq column: 1,000 groups; baseline column: mq, no groups; whole run: $(fmt_rate "${X[grp]:-}") / $(fmt_rate "${X[plain]:-}") msgs/s" "${E[grp]:-}" "${E[plain]:-}")"
    row "$W" "msgs/s last ${WINDOW}s" "$(fmt_rate "${L[grp]:-}")" "$(fmt_rate "${L[plain]:-}")" "$(ratio "${L[grp]:-}" "${L[plain]:-}")" ""
    row "$W" "last/first" "$(ratio "${L[grp]:-}" "${F[grp]:-}")" "$(ratio "${L[plain]:-}" "${F[plain]:-}")" "" "1.00 = no degradation; target >= 0.90"
    row "$W" "n_dead_tup at end" "$(fmt_rate "${D[grp]:-}")" "$(fmt_rate "${D[plain]:-}")" "" "pg_stat_user_tables of the queue table"
    unset F L D E X
fi

# ================================================================ 15. filtered reads
# (14 is kept for FIFO groups.)  A backlog of BENCH_FILTER_BACKLOG messages
# whose headers are {"k": i % m}, i = 1, 2, ... in id order: m = 100, 10
# and 1 make 1 %, 10 % and 100 % of them match the filter {"k": 0}.  4
# consumers read 1 with that filter + ack 1 per txn.  Both columns are mq:
# the baseline column is the unfiltered read 1 + ack 1 on the same backlog
# (k = i % 100).  Each run drains the matching messages: 4 clients of
# (matching / 4) transactions each, so no read before the end is empty.
# Matched msgs/s = matching messages gone (counted before and after the
# run) / pgbench's run time; the notes say how long the drain took and how
# many were left at the end (at most 3, the remainder of the division).
if want 15 && [[ $BASELINE_ONLY == 0 ]]; then
    FILTER_WIN=$((SECS / 5)); ((FILTER_WIN >= 1)) || FILTER_WIN=1
    # prefill_keyed N MOD : N messages, headers {"k": i % MOD}, in statements
    # of 10,000 (one mq.send per message: send_batch's headers are the batch's)
    prefill_keyed() {
        local n=$1 mod=$2 i=0 k
        {
            while ((i < n)); do
                k=$((n - i)); ((k <= 10000)) || k=10000
                printf "SELECT count(mq.send('%s', '%s'::jsonb, jsonb_build_object('k', i %% %d))) FROM generate_series(%d, %d) i;\n" \
                    "$Q" "$PAYLOAD" "$mod" $((i + 1)) $((i + k))
                i=$((i + k))
            done
        } >"$TMP/prefill.sql"
        if ! psqlc -f "$TMP/prefill.sql" >/dev/null 2>"$TMP/prefill.err"; then
            ERRORS=$((ERRORS + 1))
            log "ERROR: prefill of mq (headers k = i % $mod) failed:"; head -n 5 "$TMP/prefill.err" >&2
            return 1
        fi
    }
    # mq_count COND -> rows of mq's queue (all its partitions) for which COND holds
    mq_count() {
        local t sel=""
        for t in $(mq_tables | tr -d ','); do sel="${sel:+$sel + }(SELECT count(*) FROM $t WHERE $1)"; done
        try_sql "SELECT $sel" || echo "ERR"
    }
    # filter_run NAME SCRIPT MOD COND : a 4-client run on a fresh backlog
    # (headers k = i % MOD) that drains what the script's reads take (COND):
    # each client runs a quarter of the matching messages' count of
    # transactions, and every read takes one (none is empty before the end),
    # so the run ends as the matches run out.  Sets FR_RATE (matched msgs/s
    # over the run), FR_FIRST/FR_LAST (txns/s of the first/last FILTER_WIN s,
    # empty for a run shorter than two windows), FR_BACKLOG, FR_MATCH
    # (matching at the start), FR_LEFT (at the end), FR_NOTE.
    filter_run() {
        local name=$1 script=$2 mod=$3 cond=$4 pf=$FILTER_BACKLOG tps n secs
        FR_RATE=ERR FR_FIRST="" FR_LAST="" FR_BACKLOG=$pf FR_MATCH="" FR_LEFT="" FR_NOTE=""
        reset_q mq
        prefill_keyed "$pf" "$mod" || return 0
        settle mq
        FR_MATCH=$(mq_count "$cond")
        if ! isnum "$FR_MATCH" || ((FR_MATCH < 4)); then
            FR_NOTE="no matching messages to read"; return 0
        fi
        if ! pgb "$name" 4 "$script" -t $((FR_MATCH / 4)) --progress=1; then
            FR_RATE=ERR; return 0
        fi
        FR_LEFT=$(mq_count "$cond")
        tps=$(pgb_tps "$LOGS/$name.log")
        n=$(pgb_processed "$LOGS/$name.log")
        if isnum "$FR_LEFT" && isnum "$n" && ((n > 0)); then
            FR_RATE=$(awk -v t="$tps" -v m=$((FR_MATCH - FR_LEFT)) -v n="$n" 'BEGIN { printf "%.3f\n", t * m / n }')
            secs=$(awk -v t="$tps" -v n="$n" 'BEGIN { printf "%.1f\n", n / t }')
            FR_NOTE="drained in ${secs}s"
            if awk -v s="$secs" -v w="$FILTER_WIN" 'BEGIN { exit !(s >= 2 * w) }'; then
                FR_FIRST=$(window_avg "$LOGS/$name.log" "$FILTER_WIN" first)
                FR_LAST=$(window_avg "$LOGS/$name.log" "$FILTER_WIN" last)
            fi
        else
            FR_RATE=ERR
        fi
    }
    declare -A R=() FI=() LA=() BL=() MA=() LE=() E=()
    log "== workload 15: unfiltered read 1 + ack 1 per txn, 4 clients (backlog $FILTER_BACKLOG, k = i % 100)"
    filter_run w15_unfiltered "$SCRIPTS/mq_read1.sql" 100 "true"
    R[all]=$FR_RATE BL[all]=$FR_BACKLOG LE[all]=$FR_LEFT E[all]=$FR_NOTE
    drop_q mq
    for mod in 100 10 1; do
        pct=$((100 / mod))
        log "== workload 15: read 1 with filter {\"k\": 0} + ack 1 per txn, 4 clients, $pct % match (backlog $FILTER_BACKLOG, k = i % $mod)"
        filter_run "w15_filter_${pct}pct" "$SCRIPTS/mq_read1_filter.sql" "$mod" "headers @> '{\"k\": 0}'"
        R[$mod]=$FR_RATE FI[$mod]=$FR_FIRST LA[$mod]=$FR_LAST BL[$mod]=$FR_BACKLOG MA[$mod]=$FR_MATCH LE[$mod]=$FR_LEFT E[$mod]=$FR_NOTE
        drop_q mq
    done
    for mod in 100 10 1; do
        pct=$((100 / mod))
        row "15. filtered read 1 + ack 1 per txn, 4 clients, $pct % match" "matched msgs/s" "$(fmt_rate "${R[$mod]:-}")" \
            "$(fmt_rate "${R[all]:-}")" "$(ratio "${R[$mod]:-}" "${R[all]:-}")" \
            "$(join_notes "backlog $(fmt_rate "${BL[$mod]:-}") with headers {\"k\": i % $mod}: $(fmt_rate "${MA[$mod]:-}") match {\"k\": 0}, $(fmt_rate "${LE[$mod]:-}") left at the end" "${E[$mod]:-}" \
                "txns/s first ${FILTER_WIN}s $(fmt_rate "${FI[$mod]:-}"), last ${FILTER_WIN}s $(fmt_rate "${LA[$mod]:-}")" \
                "baseline column: unfiltered, backlog $(fmt_rate "${BL[all]:-}"), $(fmt_rate "${LE[all]:-}") left" "${E[all]:+baseline: ${E[all]}}")"
    done
    unset R FI LA BL MA LE E
fi

# ================================================================ 16. metrics scrape
# What looking costs: BENCH_SCRAPE_QUEUES queues (1,000) of 10 messages
# each, 2 of them read and acked in each (so every queue has counters and
# histograms): the time of one SELECT mq.prometheus() and of one
# SELECT count(*) FROM mq.metrics (pgbench, 1 client, 10 transactions, the
# latency average), and the size of the text.  No baseline column: the
# figure is the time.
if want 16 && [[ $BASELINE_ONLY == 0 ]]; then
    NSQ=${BENCH_SCRAPE_QUEUES:-1000}
    log "== workload 16: scrape of $NSQ queues"
    for ((i = 1; i <= NSQ; i++)); do
        echo "SELECT mq.create_queue('s_$i'); SELECT count(*) FROM mq.send_batch('s_$i', array_fill('{}'::jsonb, ARRAY[10])); SELECT count(mq.ack('s_$i', id)) FROM mq.read('s_$i', 2);"
    done >"$TMP/scrape_setup.sql"
    declare -A S=()
    if psqlc -f "$TMP/scrape_setup.sql" >/dev/null 2>"$TMP/scrape.err"; then
        echo "SELECT length(mq.prometheus());" >"$TMP/scrape_prom.sql"
        echo "SELECT count(*) FROM mq.metrics;" >"$TMP/scrape_view.sql"
        for what in prom view; do
            if pgb "w16_$what" 1 "$TMP/scrape_$what.sql" -t 10; then
                S[$what]=$(awk -F'= *' '/latency average/ { split($2, a, " "); print a[1]; exit }' "$LOGS/w16_$what.log")
            else
                S[$what]=ERR
            fi
        done
        S[bytes]=$(sql "SELECT length(mq.prometheus())" 2>/dev/null || echo ERR)
    else
        ERRORS=$((ERRORS + 1))
        log "ERROR: making $NSQ queues failed:"; head -n 5 "$TMP/scrape.err" >&2
    fi
    for ((i = 1; i <= NSQ; i++)); do echo "SELECT mq.drop_queue('s_$i', if_exists => true);"; done >"$TMP/scrape_drop.sql"
    psqlc -f "$TMP/scrape_drop.sql" >/dev/null 2>&1 || true
    row "16. metrics scrape, $NSQ queues: SELECT mq.prometheus()" "ms per scrape" "${S[prom]:-ERR}" "" "" \
        "text of ${S[bytes]:-?} bytes; pgbench -t 10, latency average"
    row "16. metrics scrape, $NSQ queues: SELECT count(*) FROM mq.metrics" "ms per scrape" "${S[view]:-ERR}" "" "" \
        "10 messages per queue, 2 read and acked"
    unset S
fi

# ================================================================ 17. history
# mq against mq: a queue with lifecycle history (history => true: every
# send, delivery and ack also writes an event row into mq.h_<name>) against
# the same queue without.  Send 1/txn at 4 clients and read 1 + ack 1 per
# txn at 4 clients (as in 3), each in 2 interleaved rounds per mode (as
# in 13): on this shared machine one run of each is not a ratio.
if want 17 && [[ $BASELINE_ONLY == 0 ]]; then
    W17="17. history on vs off"
    declare -A R=() SUM=() CNT=() H=() BEST=()
    for round in 1 2; do
        for mode in on off; do
            if [[ $mode == on ]]; then MQ_HISTORY=true; else MQ_HISTORY=false; fi
            log "== workload 17: send 1 msg/txn, 4 clients, history $mode (round $round of 2)"
            reset_q mq
            sql "CHECKPOINT" >/dev/null
            if pgb "w17_send_${mode}_$round" 4 "$SCRIPTS/mq_send.sql" -T "$SECS"; then
                t=$(pgb_tps "$LOGS/w17_send_${mode}_$round.log")
                SUM[$mode]=$(awk -v a="${SUM[$mode]:-0}" -v b="$t" 'BEGIN { print a + b }')
                BEST[$mode]=$(awk -v a="${BEST[$mode]:-0}" -v b="$t" 'BEGIN { print (b > a ? b : a) }')
                CNT[$mode]=$((${CNT[$mode]:-0} + 1))
            fi
            [[ $mode == on ]] && H[send]=$(sql "SELECT count(*) FROM mq.h_$Q" 2>/dev/null || echo ERR)
            drop_q mq
        done
    done
    for mode in on off; do
        if ((${CNT[$mode]:-0} == 2)); then R[$mode]=$(divi "${SUM[$mode]}" 2); else R[$mode]=ERR; fi
    done
    row "$W17: send 1 msg/txn, 4 clients" "msgs/s" "$(fmt_rate "${R[on]:-}")" "$(fmt_rate "${R[off]:-}")" \
        "$(ratio "${R[on]:-}" "${R[off]:-}")" \
        "mq column: history => true (${H[send]:-?} events in the last run); baseline column: mq, history off; mean of 2 interleaved runs each; target >= 0.70; best of 2: $(fmt_rate "${BEST[on]:-}") / $(fmt_rate "${BEST[off]:-}") = $(ratio "${BEST[on]:-}" "${BEST[off]:-}")"
    unset R SUM CNT BEST
    declare -A R=() E=() PF=() SUM=() CNT=() BEST=()
    for round in 1 2; do
        for mode in on off; do
            if [[ $mode == on ]]; then MQ_HISTORY=true; else MQ_HISTORY=false; fi
            log "== workload 17: read 1 + ack 1 per txn, 4 clients, history $mode (prefill $READ_PREFILL, round $round of 2)"
            consume_run "w17_read1_${mode}_$round" mq 4 "$SCRIPTS/mq_read1.sql" 1 "$READ_PREFILL"
            if [[ $CR_RATE != ERR ]]; then
                SUM[$mode]=$(awk -v a="${SUM[$mode]:-0}" -v b="$CR_RATE" 'BEGIN { print a + b }')
                BEST[$mode]=$(awk -v a="${BEST[$mode]:-0}" -v b="$CR_RATE" 'BEGIN { print (b > a ? b : a) }')
                CNT[$mode]=$((${CNT[$mode]:-0} + 1))
            fi
            E[$mode]=${E[$mode]:-$CR_NOTE} PF[$mode]=$(fmt_rate "$CR_PREFILL")
            [[ $mode == on ]] && H[read]=$(sql "SELECT pg_size_pretty(pg_total_relation_size('mq.h_$Q'))" 2>/dev/null || echo ERR)
            drop_q mq
        done
    done
    for mode in on off; do
        if ((${CNT[$mode]:-0} == 2)); then R[$mode]=$(divi "${SUM[$mode]}" 2); else R[$mode]=ERR; fi
    done
    MQ_HISTORY=false
    row "$W17: read 1 + ack 1 per txn, 4 clients" "msgs/s" "$(fmt_rate "${R[on]:-}")" "$(fmt_rate "${R[off]:-}")" \
        "$(ratio "${R[on]:-}" "${R[off]:-}")" \
        "$(join_notes "mq column: history => true (the prefill's sends recorded too: history table ${H[read]:-?} at the end); baseline column: history off; mean of 2 interleaved runs each; target >= 0.70; best of 2: $(fmt_rate "${BEST[on]:-}") / $(fmt_rate "${BEST[off]:-}") = $(ratio "${BEST[on]:-}" "${BEST[off]:-}")" \
            "prefill ${PF[on]:-n/a} / ${PF[off]:-n/a}" "${E[on]:+on: ${E[on]}}" "${E[off]:+off: ${E[off]}}")"
    unset R E PF H SUM CNT BEST
fi

# ================================================================ report
ELAPSED=$(($(date +%s) - START_TS))
COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo "unknown")
if [[ $COMMIT != unknown ]] && [[ -n $(git -C "$REPO" status --porcelain 2>/dev/null | head -n 1) ]]; then
    COMMIT="$COMMIT (+ uncommitted changes)"
fi
CMD="bash bench/run.sh"
for v in BENCH_QUICK BENCH_SECONDS BENCH_CHURN BENCH_HOLD_SECONDS BENCH_HOLD_WINDOW BENCH_PREFILL \
    BENCH_READ_PREFILL BENCH_BATCH_PREFILL BENCH_LAT_TXNS BENCH_CHURN_PAUSE BENCH_WAKE_MSGS BENCH_FILTER_BACKLOG BENCH_PARTITIONS BENCH_MQ_PARTITIONS BENCH_ONLY BENCH_BASELINE_ONLY; do
    [[ -n ${!v:-} ]] && CMD="$v=${!v} $CMD"
done

report() {
    echo "# mq benchmark"
    echo
    echo "- command: \`$CMD\`"
    echo "- git commit: $COMMIT"
    echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "- server: PostgreSQL $PG_VERSION, mq $MQ_VERSION; $(nproc) CPUs, shared_buffers=1GB, max_wal_size=4GB, checkpoint_timeout=15min, fsync/synchronous_commit on, autovacuum on"
    echo "- settings: BENCH_SECONDS=$SECS BENCH_CHURN=$CHURN BENCH_HOLD_SECONDS=$HOLD (windows ${WINDOW}s) BENCH_PREFILL=$PREFILL read prefill=$READ_PREFILL batch prefill=$BATCH_PREFILL filter backlog=$FILTER_BACKLOG quick=$QUICK; pgbench -n -M prepared"
    echo "- baseline: PK-ordered \`FOR UPDATE SKIP LOCKED\` table (bench/baseline.sql); raw = plain INSERT into a PK-only table"
    echo "- held xmin (7, 12, 13): a REPEATABLE READ session holds its snapshot for the whole consumer run; first/last = average of pgbench --progress=1 over the first/last ${WINDOW}s"
    echo "- total bench time: ${ELAPSED}s; errors: $ERRORS"
    echo
    awk -F'\t' '
        BEGIN { h[1] = "Workload"; h[2] = "Metric"; h[3] = "mq"; h[4] = "baseline"; h[5] = "mq/baseline"; h[6] = "Notes"
                for (i = 1; i <= 6; i++) w[i] = length(h[i]) }
        { n++; for (i = 1; i <= 6; i++) { c[n, i] = $i; if (length($i) > w[i]) w[i] = length($i) } }
        function line(a1, a2, a3, a4, a5, a6) {
            printf "| %-*s | %-*s | %*s | %*s | %*s | %-*s |\n", w[1], a1, w[2], a2, w[3], a3, w[4], a4, w[5], a5, w[6], a6
        }
        function dash(k,   s) { s = ""; while (length(s) < k) s = s "-"; return s }
        END {
            line(h[1], h[2], h[3], h[4], h[5], h[6])
            printf "| %s | %s | %s: | %s: | %s: | %s |\n", dash(w[1]), dash(w[2]), dash(w[3] - 1), dash(w[4] - 1), dash(w[5] - 1), dash(w[6])
            for (r = 1; r <= n; r++) line(c[r, 1], c[r, 2], c[r, 3], c[r, 4], c[r, 5], c[r, 6])
        }' "$ROWS"
}

mkdir -p "$RESULTS"
report | tee "$RESULTS/latest.md"
log "done in ${ELAPSED}s; table written to bench/results/latest.md"
if ((ERRORS > 0)); then
    log "$ERRORS error(s) occurred (see messages above and bench/results/last-logs/)"
    exit 1
fi
