"""Producers and waiting consumers through PgBouncer in transaction mode.

Consumers (threads, one connection each) loop: BEGIN; read one message
with wait; record it in a ledger; ack; COMMIT.  A producer sends N
messages, one per transaction, from its own connection.  Every connection
is psycopg 3 with prepare_threshold=None: PgBouncer 1.18 in transaction
mode cannot keep prepared statements.

usage: python3 bouncer_load.py CONSUMER_DSN PRODUCER_DSN N CONSUMERS SECONDS
prints: sent=S acked=A distinct=D duplicated=X send_seconds=T
"""
import sys
import threading
import time

import psycopg

consumer_dsn, producer_dsn = sys.argv[1], sys.argv[2]
n, nconsumers, seconds = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
stop = threading.Event()
errors = []


def consumer():
    try:
        with psycopg.connect(consumer_dsn, prepare_threshold=None, autocommit=True) as c:
            while not stop.is_set():
                with c.transaction():
                    row = c.execute("SELECT id FROM mq.read('pb', 1, wait => '1 second')").fetchone()
                    if row is None:
                        continue
                    c.execute("INSERT INTO pb_ledger VALUES (%s)", (row[0],))
                    c.execute("SELECT mq.ack('pb', %s)", (row[0],))
    except Exception as e:  # reported by the caller
        errors.append(repr(e))


threads = [threading.Thread(target=consumer, daemon=True) for _ in range(nconsumers)]
for t in threads:
    t.start()
time.sleep(0.5)

sent = 0
t0 = time.time()
with psycopg.connect(producer_dsn, prepare_threshold=None, autocommit=True) as p:
    while sent < n and time.time() - t0 < seconds:
        p.execute("SELECT mq.send('pb', %s)", ('{"k": %d}' % sent,))
        sent += 1
send_seconds = time.time() - t0

# let the consumers finish what was sent (bounded)
with psycopg.connect(producer_dsn, prepare_threshold=None, autocommit=True) as p:
    deadline = time.time() + 30
    while time.time() < deadline:
        if p.execute("SELECT count(*) FROM mq.q_pb").fetchone()[0] == 0:
            break
        time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join(10)
    acked, distinct = p.execute("SELECT count(*), count(DISTINCT id) FROM pb_ledger").fetchone()

print(f"sent={sent} acked={acked} distinct={distinct} duplicated={acked - distinct} "
      f"send_seconds={send_seconds:.2f} errors={len(errors)}", flush=True)
for e in errors[:3]:
    print("error:", e, flush=True)
