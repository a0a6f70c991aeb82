-- Baseline for the mq benchmark: the queue a user would hand-write in plain SQL.
--
-- bq  : a PK-ordered "SKIP LOCKED" queue table.
-- raw : the physical limit -- a plain INSERT into a table that has only a PK.
--
-- The operations benchmarked against these tables live in bench/scripts/bq_*.sql
-- and bench/scripts/raw_*.sql:
--
--   send      INSERT INTO bq(payload) VALUES ('{"order": 12345, "note": "hello world"}');
--   read 1    UPDATE bq SET vt = now() + interval '30 seconds', deliveries = deliveries + 1
--              WHERE id = (SELECT id FROM bq WHERE vt <= now() ORDER BY id LIMIT 1
--                          FOR UPDATE SKIP LOCKED)
--             RETURNING id, payload;
--   read 100  same, with  WHERE id IN (SELECT ... LIMIT 100 FOR UPDATE SKIP LOCKED)
--   ack       DELETE FROM bq WHERE id = $1;      (batch: WHERE id = ANY($1))
--
-- This file is (re)loaded by bench/run.sh before every baseline run, so it
-- always starts from empty tables.

DROP TABLE IF EXISTS bq;
DROP TABLE IF EXISTS raw;

CREATE TABLE bq (
    id          bigserial PRIMARY KEY,
    vt          timestamptz NOT NULL DEFAULT now(),
    deliveries  int         NOT NULL DEFAULT 0,
    enqueued_at timestamptz NOT NULL DEFAULT now(),
    payload     jsonb       NOT NULL,
    headers     jsonb
);

CREATE TABLE raw (
    id          bigserial PRIMARY KEY,
    payload     jsonb,
    headers     jsonb,
    enqueued_at timestamptz DEFAULT now()
);
