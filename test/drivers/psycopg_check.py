"""The natural calls of mq from Python, with psycopg 3 (server-side
parameters: ints and lists are sent typed, str untyped) and psycopg2
(client-side interpolation): send, read, ack/archive/nack/set_vt of one id
and of many, and the documented 22004 for a NULL id.

usage: python3 psycopg_check.py "conninfo"   (exits 1 on a failed check)
"""
import sys

import psycopg
import psycopg2

conninfo = sys.argv[1]
failures = 0


def check(ok, what):
    global failures
    print(("ok     " if ok else "FAILED ") + what, flush=True)
    if not ok:
        failures += 1


def calls(cur, name, queue):
    """The same natural calls through any DB-API cursor."""
    cur.execute("SELECT mq.drop_queue(%s, true)", (queue,))
    cur.execute("SELECT mq.create_queue(%s)", (queue,))
    ids = []
    for n in range(1, 8):
        cur.execute("SELECT mq.send(%s, %s)", (queue, '{"n": %d}' % n))
        ids.append(cur.fetchone()[0])
    cur.execute("SELECT id FROM mq.read(%s, %s)", (queue, 7))
    check(len(cur.fetchall()) == 7, f"{name}: read 7 messages")

    cur.execute("SELECT mq.ack(%s, %s)", (queue, ids[0]))
    check(cur.fetchone()[0] is True, f"{name}: mq.ack(queue, id) is true")
    cur.execute("SELECT mq.ack(%s, %s)", (queue, ids[0]))
    check(cur.fetchone()[0] is False, f"{name}: acked again, false")
    cur.execute("SELECT mq.ack(%s, %s)", (queue, [ids[1], ids[2]]))
    check(cur.fetchone()[0] == 2, f"{name}: mq.ack(queue, [ids]) counts 2")
    cur.execute("SELECT mq.archive(%s, %s)", (queue, ids[3]))
    check(cur.fetchone()[0] is True, f"{name}: mq.archive(queue, id)")
    cur.execute("SELECT mq.archive(%s, %s)", (queue, [ids[4]]))
    check(cur.fetchone()[0] == 1, f"{name}: mq.archive(queue, [ids])")
    cur.execute("SELECT mq.nack(%s, %s, %s)", (queue, ids[5], "boom"))
    check(cur.fetchone()[0] is True, f"{name}: mq.nack(queue, id, error)")
    cur.execute("SELECT mq.nack(%s, %s, %s)", (queue, [ids[5], ids[6]], "boom"))
    check(cur.fetchone()[0] == 2, f"{name}: mq.nack(queue, [ids], error)")
    cur.execute("SELECT mq.set_vt(%s, %s, %s)", (queue, ids[5], "1 hour"))
    check(cur.fetchone()[0] is not None, f"{name}: mq.set_vt(queue, id, vt)")
    cur.execute("SELECT mq.set_vt(%s, %s, %s)", (queue, [ids[5], ids[6]], "1 hour"))
    check(cur.fetchone()[0] == 2, f"{name}: mq.set_vt(queue, [ids], vt)")
    cur.execute("SELECT count(*) FROM mq.peek(%s, %s)", (queue, 10))
    check(cur.fetchone()[0] == 2, f"{name}: mq.peek sees the two left")
    cur.execute("SELECT count(*) FROM mq.pop(%s, %s)", (queue, 10))
    check(cur.fetchone()[0] == 0, f"{name}: mq.pop takes nothing leased")
    cur.execute("SELECT mq.drop_queue(%s)", (queue,))


def null_id(conn, cur, name, queue):
    cur.execute("SELECT mq.drop_queue(%s, true)", (queue,))
    cur.execute("SELECT mq.create_queue(%s)", (queue,))
    conn.commit()
    state = None
    try:
        cur.execute("SELECT mq.ack(%s, %s)", (queue, None))
    except Exception as e:  # psycopg.Error / psycopg2.Error
        state = getattr(e, "sqlstate", None) or getattr(e, "pgcode", None)
    conn.rollback()
    check(state == "22004", f"{name}: mq.ack(queue, None) raises 22004 (got {state})")
    cur.execute("SELECT mq.drop_queue(%s)", (queue,))
    conn.commit()


with psycopg.connect(conninfo, autocommit=True) as conn:
    conn.execute("SET client_min_messages = warning")
    conn.execute("CREATE EXTENSION IF NOT EXISTS mq")
    calls(conn.cursor(), "psycopg 3", "py3_q")
    # the same with prepared statements (psycopg 3 prepares repeated queries)
    with conn.cursor() as cur:
        cur.execute("SELECT mq.drop_queue('py3_prep', true)")
        cur.execute("SELECT mq.create_queue('py3_prep')")
        for n in range(8):
            cur.execute("SELECT mq.send(%s, %s)", ("py3_prep", "{}"), prepare=True)
        cur.execute("SELECT array_agg(id) FROM mq.read(%s, %s)", ("py3_prep", 8))
        got = cur.fetchone()[0]
        total = 0
        for i in got:
            cur.execute("SELECT mq.ack(%s, %s)", ("py3_prep", i), prepare=True)
            total += cur.fetchone()[0] is True
        check(total == 8, "psycopg 3: prepared mq.ack, 8 times")
        cur.execute("SELECT mq.drop_queue('py3_prep')")

with psycopg.connect(conninfo) as conn:
    null_id(conn, conn.cursor(), "psycopg 3", "py3_null")

conn2 = psycopg2.connect(conninfo)
conn2.autocommit = True
calls(conn2.cursor(), "psycopg2", "py2_q")
conn2.autocommit = False
null_id(conn2, conn2.cursor(), "psycopg2", "py2_null")
conn2.close()

print("psycopg: all checks passed" if failures == 0 else "psycopg: FAILED", flush=True)
sys.exit(1 if failures else 0)
