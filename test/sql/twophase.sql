-- Two-phase commit: a prepared send is invisible until COMMIT PREPARED and
-- gone after ROLLBACK PREPARED; reads in between do not lose it.
\i test/sql/setup.inc

SELECT mq.create_queue('tp', visibility_timeout => '1 hour');

BEGIN;
SELECT mq.send('tp', '{"n": "prepared"}') > 0 AS sent;
PREPARE TRANSACTION 'mq_tp_1';
-- newer messages committed and consumed past the prepared one
SELECT mq.send('tp', '{"n": "after 1"}') > 0 AS sent;
SELECT mq.send('tp', '{"n": "after 2"}') > 0 AS sent;
SELECT payload->>'n' AS n FROM mq.read('tp', 10);
SELECT payload->>'n' AS n FROM mq.read('tp', 10);
COMMIT PREPARED 'mq_tp_1';
SELECT payload->>'n' AS n, deliveries FROM mq.read('tp', 10);

BEGIN;
SELECT mq.send('tp', '{"n": "never"}') > 0 AS sent;
PREPARE TRANSACTION 'mq_tp_2';
SELECT count(*) FROM mq.read('tp', 10);
ROLLBACK PREPARED 'mq_tp_2';
SELECT count(*) FROM mq.read('tp', 10);

-- A read inside a prepared transaction: ROLLBACK PREPARED gives it back
-- (counted as a failed delivery: rollback.sql).
SELECT mq.send('tp', '{"n": "claimed in 2pc"}') > 0 AS sent;
BEGIN;
SELECT payload->>'n' AS n FROM mq.read('tp');
PREPARE TRANSACTION 'mq_tp_3';
SELECT mq.send('tp', '{"n": "newer"}') > 0 AS sent;
SELECT payload->>'n' AS n FROM mq.read('tp');
-- peek sees the claim as not made (it is not committed); reads skip it
SELECT payload->>'n' AS n, state FROM mq.peek('tp');
ROLLBACK PREPARED 'mq_tp_3';
SELECT payload->>'n' AS n, state FROM mq.peek('tp');

-- An ack inside a prepared transaction takes effect at COMMIT PREPARED.
SELECT id AS m FROM mq.q_tp WHERE payload->>'n' = 'claimed in 2pc' \gset
BEGIN;
SELECT mq.ack('tp', :m);
PREPARE TRANSACTION 'mq_tp_4';
SELECT count(*) FROM mq.q_tp WHERE id = :m;
COMMIT PREPARED 'mq_tp_4';
SELECT count(*) FROM mq.q_tp WHERE id = :m;

SELECT mq.drop_queue('tp');
