#!/usr/bin/env bash
# Metrics on a preloaded cluster of our own:
#   1. after sends, reads, acks and a nack on two queues (one of them with
#      3 partitions), mq.metrics counts them;
#   2. mq.prometheus() is valid exposition text: Python's prometheus_client
#      parser (Debian's python3-prometheus-client) reads all of it, and the
#      families, samples and histogram buckets are the ones expected;
#   3. a clean restart keeps the counters and counters_since (the
#      postmaster writes them to pg_stat/mq_metrics.stat at shutdown);
#   4. a crash (a backend killed, the server reinitialising its shared
#      memory) starts them again from zero, with a new counters_since;
#   5. Debian's prometheus-postgres-exporter, given
#      contrib/prometheus/postgres_exporter_queries.yaml, serves mq's series
#      on its /metrics, scraped over HTTP as a role in pg_monitor;
#   6. contrib/grafana/mq-dashboard.json parses, and every series its
#      panels query is one that mq.prometheus() serves;
#   7. the database's worker evaluates an alert rule by itself: it fires
#      (NOTIFY mq_alerts with a JSON payload, mq.alert_history, the server
#      log) and resolves, once each.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/test/lib.sh"
W=${1:?usage: metrics.sh WORKDIR}
C=$W/metrics_cluster
PORT=$(free_port)
DB=mq_metrics
EXPORTER_PID=

cleanup() {
    [ -n "$EXPORTER_PID" ] && kill "$EXPORTER_PID" 2>/dev/null || true
    cluster_stop "$C" fast
    cluster_stop "$C" immediate
}
trap cleanup EXIT
trap 'echo "metrics.sh: command failed at line $LINENO: $BASH_COMMAND" >&2' ERR

cluster_init "$C" "$PORT" yes
cluster_start "$C" || { cat "$C/server.log"; exit 1; }
psql_ -d postgres -c "CREATE DATABASE $DB"
q "CREATE EXTENSION mq"

# --- 1. counts ---------------------------------------------------------------
q "SELECT mq.create_queue('m1')" >/dev/null
q "SELECT mq.create_queue('m2', partitions => 3)" >/dev/null
q "SELECT count(*) FROM mq.send_batch('m1', array_fill('{}'::jsonb, ARRAY[10]))" >/dev/null
for i in 1 2 3 4 5 6; do q "SELECT mq.send('m2', '{}')" >/dev/null; done
q "SELECT count(mq.ack('m1', id)) FROM mq.read('m1', 4)" >/dev/null
q "SELECT count(mq.nack('m1', id)) FROM mq.read('m1', 1)" >/dev/null
q "SELECT count(mq.ack('m2', id)) FROM mq.read('m2', 6)" >/dev/null
expect "m1 sent, delivered, acked, nacked" "10|5|4|1" \
    "$(q "SELECT sent, delivered, acked, nacked FROM mq.metrics('m1')")"
expect "m2 (3 partitions) sent, delivered, acked, total_messages, queue_length" "6|6|6|6|0" \
    "$(q "SELECT sent, delivered, acked, total_messages, queue_length FROM mq.metrics('m2')")"
expect "m1 queue-time and processing-time samples" "5|4" \
    "$(q "SELECT queue_time_samples, processing_time_samples FROM mq.metrics('m1')")"

# --- 2. the exposition text, read by a real parser ---------------------------
q "SELECT mq.prometheus()" >"$W/metrics.txt"
/usr/bin/python3 - "$W/metrics.txt" <<'PY' || fail "the exposition text did not parse as expected"
import sys
from prometheus_client.parser import text_string_to_metric_families

text = open(sys.argv[1]).read()
fams = {f.name: f for f in text_string_to_metric_families(text)}
def value(family, sample, **labels):
    for s in fams[family].samples:
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    raise SystemExit("no sample %s %s" % (sample, labels))
# counters are parsed as families without the _total suffix
assert fams["mq_sent"].type == "counter", fams["mq_sent"].type
assert value("mq_sent", "mq_sent_total", queue="m1") == 10
assert value("mq_acked", "mq_acked_total", queue="m2") == 6
assert value("mq_nacked", "mq_nacked_total", queue="m1") == 1
assert fams["mq_messages"].type == "gauge"
assert value("mq_messages", "mq_messages", queue="m1", state="visible") == 6
assert fams["mq_queue_time_seconds"].type == "histogram"
buckets = [s for s in fams["mq_queue_time_seconds"].samples
           if s.name == "mq_queue_time_seconds_bucket" and s.labels["queue"] == "m1"]
assert len(buckets) == 19 and buckets[-1].labels["le"] == "+Inf", buckets
assert buckets[-1].value == 5 == value("mq_queue_time_seconds", "mq_queue_time_seconds_count", queue="m1")
assert all(a.value <= b.value for a, b in zip(buckets, buckets[1:])), "buckets not cumulative"
print("parsed %d families, %d samples" % (len(fams), sum(len(f.samples) for f in fams.values())))
PY
echo "ok: mq.prometheus() parsed by prometheus_client ($(wc -l <"$W/metrics.txt") lines)"

# --- 3. a clean restart keeps them -------------------------------------------
before=$(q "SELECT sent, acked, nacked, counters_since FROM mq.metrics('m1')")
cluster_stop "$C" fast
[ -f "$C/data/pg_stat/mq_metrics.stat" ] || fail "no metrics file after a clean shutdown"
cluster_start "$C" || fail "restart failed"
[ ! -f "$C/data/pg_stat/mq_metrics.stat" ] || fail "the metrics file was not removed once read"
expect "m1 counters and counters_since after a clean restart" "$before" \
    "$(q "SELECT sent, acked, nacked, counters_since FROM mq.metrics('m1')")"
# the histograms' totals are kept too (the last minute's slots are not)
expect "m1 queue-time histogram count after a clean restart" "5" \
    "$(q "SELECT mq.prometheus()" | grep -E '^mq_queue_time_seconds_count\{queue="m1"\}' | awk '{print $2}')"
expect "m2 (3 partitions) counters after a clean restart" "6|6" \
    "$(q "SELECT sent, acked FROM mq.metrics('m2')")"
q "SELECT mq.send('m1', '{}')" >/dev/null
expect "m1 counts on after the restart" "11" "$(q "SELECT sent FROM mq.metrics('m1')")"

# --- 4. a crash starts them again ---------------------------------------------
# A backend killed with SIGKILL: the postmaster ends every process and
# starts its shared memory afresh (crash recovery), with no file to read.
since=$(q "SELECT counters_since FROM mq.metrics('m1')")
psql_ -d "$DB" -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
victim=""
for i in $(seq 1 100); do
    victim=$(q "SELECT pid FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)'")
    [ -n "$victim" ] && break
    sleep 0.1
done
[ -n "$victim" ] || fail "no backend to kill"
kill -9 "$victim"
wait || true
for i in $(seq 1 100); do
    if q "SELECT 1" >/dev/null 2>&1 && grep -q "all server processes terminated; reinitializing" "$C/server.log"; then
        break
    fi
    sleep 0.2
done
grep -q "all server processes terminated; reinitializing" "$C/server.log" || fail "the server did not restart after the crash"
expect "m1 counters after a crash" "0|0|t" \
    "$(q "SELECT sent, acked, counters_since > '$since' FROM mq.metrics('m1')")"
expect "m1 depth after a crash (from the table)" "7" "$(q "SELECT queue_length FROM mq.metrics('m1')")"

# --- 5. prometheus-postgres-exporter with the shipped query file ---------------
q "CREATE ROLE mq_scraper LOGIN IN ROLE pg_monitor"
q "SELECT count(mq.ack('m1', id)) FROM mq.read('m1', 2)" >/dev/null
EPORT=$(free_port)
DATA_SOURCE_NAME="postgresql://mq_scraper@127.0.0.1:$PORT/$DB?sslmode=disable" \
    /usr/bin/prometheus-postgres-exporter --web.listen-address="127.0.0.1:$EPORT" \
    --extend.query-path="$here/contrib/prometheus/postgres_exporter_queries.yaml" \
    --disable-default-metrics --disable-settings-metrics >"$W/exporter.log" 2>&1 &
EXPORTER_PID=$!
scraped=""
for i in $(seq 1 50); do
    if scraped=$(/usr/bin/python3 -c "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:$EPORT/metrics', timeout=5).read().decode())" 2>/dev/null) \
        && grep -q '^mq_queue_acked{' <<<"$scraped"; then
        break
    fi
    sleep 0.2
done
grep -q '^mq_queue_acked{' <<<"$scraped" || { cat "$W/exporter.log" >&2; fail "the exporter served no mq_queue_acked series"; }
expect "exporter: mq_queue_acked of m1" '2' \
    "$(grep -E '^mq_queue_acked\{[^}]*queue="m1"' <<<"$scraped" | awk '{print $2}')"
expect "exporter: mq_queue_queue_length of m2" '0' \
    "$(grep -E '^mq_queue_queue_length\{[^}]*queue="m2"' <<<"$scraped" | awk '{print $2}')"
expect "exporter: mq series without an error" "0" \
    "$(grep -cE '^pg_exporter_user_queries_load_error\{[^}]*\} 1' <<<"$scraped" || true)"
kill "$EXPORTER_PID"; wait "$EXPORTER_PID" 2>/dev/null || true; EXPORTER_PID=

# --- 7. the worker evaluates alerts by itself ----------------------------------
# mq.worker_naptime = 1 s here: a rule on m1's depth fires within seconds of
# the messages that break it, NOTIFY mq_alerts carries the event as JSON,
# the server log has the line, and it resolves once the queue is drained.
echo "mq.worker_naptime = 1" | as_pg tee -a "$C/data/postgresql.conf" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
q "SELECT mq.purge('m1')" >/dev/null
q "SELECT mq.create_alert('m1_deep', 'm1', 'depth', 3)"
/usr/bin/python3 - "host=127.0.0.1 port=$PORT user=postgres dbname=$DB" <<'PY' || fail "the worker's alert did not arrive as expected"
import json, select, sys, time
import psycopg2
dsn = sys.argv[1]
listen = psycopg2.connect(dsn)
listen.autocommit = True
listen.cursor().execute("LISTEN mq_alerts")
work = psycopg2.connect(dsn)
work.autocommit = True

def wait_for(event, within):
    end = time.time() + within
    while time.time() < end:
        if select.select([listen], [], [], 0.5) != ([], [], []):
            listen.poll()
            while listen.notifies:
                n = listen.notifies.pop(0)
                p = json.loads(n.payload)
                if p["alert"] == "m1_deep" and p["event"] == event:
                    return p, time.time()
    raise SystemExit("no %s event for m1_deep within %s s" % (event, within))

t0 = time.time()
work.cursor().execute("SELECT count(*) FROM mq.send_batch('m1', array_fill('{}'::jsonb, ARRAY[5]))")
p, t1 = wait_for("firing", 30)
assert p["queue"] == "m1" and p["metric"] == "depth" and p["value"] == 5 and p["threshold"] == 3, p
print("firing after %.1f s: %s" % (t1 - t0, json.dumps(p)))
work.cursor().execute("SELECT count(mq.ack('m1', id)) FROM mq.read('m1', 5)")
p, t2 = wait_for("resolved", 15)
assert p["value"] == 0, p
print("resolved after %.1f s" % (t2 - t1))
PY
expect "m1_deep history: fired once, resolved once" "firing,resolved" \
    "$(q "SELECT string_agg(event, ',' ORDER BY id) FROM mq.alert_history WHERE alert_name = 'm1_deep'")"
grep -q 'mq alert "m1_deep" on queue "m1" firing: depth = 5 (> 3)' "$C/server.log" \
    || fail "the server log has no line for the firing"
echo "ok: the worker fired and resolved m1_deep, with NOTIFY and a log line"

# --- 6. the Grafana dashboard ---------------------------------------------------
q "SELECT mq.prometheus()" >"$W/metrics.txt"
/usr/bin/python3 - "$here/contrib/grafana/mq-dashboard.json" "$W/metrics.txt" <<'PY' || fail "the dashboard does not match the series"
import json, re, sys
dash = json.load(open(sys.argv[1]))
served = set(re.findall(r"^# TYPE (\S+) (\S+)", open(sys.argv[2]).read(), re.M))
names = set()
for name, kind in served:
    names.add(name)
    if kind == "histogram":
        names.update(name + s for s in ("_bucket", "_sum", "_count"))
used = set()
for p in dash["panels"]:
    for t in p["targets"]:
        used.update(re.findall(r"\b(mq_[a-z_]+)\b", t["expr"]))
missing = used - names
assert not missing, "queried but not served: %s" % sorted(missing)
assert len(dash["panels"]) >= 6
print("dashboard: %d panels, %d series queried, all served" % (len(dash["panels"]), len(used)))
PY
echo "ok: the Grafana dashboard parses and queries only served series"
echo "metrics.sh: all checks passed"
