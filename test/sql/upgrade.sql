-- ALTER EXTENSION mq UPDATE from 0.1.0 (to 0.2.0, then to the newest):
-- queues and messages survive, the
-- new arguments and columns appear, and the 0.1.0 functions keep working
-- with the new library before the update.
\i test/sql/setup.inc
SET client_min_messages = warning;
DROP EXTENSION mq;
CREATE EXTENSION mq VERSION '0.1.0';
RESET client_min_messages;
SELECT extversion FROM pg_extension WHERE extname = 'mq';

-- 0.1.0 signatures on the new library
SELECT mq.create_queue('up', '45 seconds');
SELECT mq.send('up', '{"v": 1}') AS id1 \gset
SELECT mq.send('up', '{"v": 2}') AS id2 \gset
SELECT id = :id1 AS got_first, deliveries FROM mq.read('up', 1, '1 hour');
SELECT queue_name, depth, in_flight FROM mq.queues;

ALTER EXTENSION mq UPDATE TO '0.2.0';
SELECT extversion FROM pg_extension WHERE extname = 'mq';

-- same queue, same messages, new columns
SELECT queue_name, visibility_timeout, depth, in_flight, notify, waiting FROM mq.queues;
SELECT id = :id2 AS got_second FROM mq.read('up', 5, NULL, NULL, 3);
SELECT mq.create_queue('up2', notify => true);
SELECT queue_name, notify FROM mq.queue ORDER BY 1;
SELECT pg_catalog.pg_get_function_identity_arguments(p.oid) AS read_args
  FROM pg_proc p WHERE p.proname = 'read' AND p.pronamespace = 'mq'::regnamespace;

-- and on to the newest version
ALTER EXTENSION mq UPDATE;
SELECT extversion = default_version AS newest
  FROM pg_extension, pg_available_extensions WHERE extname = 'mq' AND name = 'mq';
SELECT * FROM mq.send_multi(ARRAY['up', 'up2'], '{"v": 3}');
SELECT queue_name, depth FROM mq.queues ORDER BY 1;

-- what a fresh install creates is what the updates create
SELECT count(*) AS functions FROM pg_proc WHERE pronamespace = 'mq'::regnamespace;
SELECT mq.drop_queue('up');
SELECT mq.drop_queue('up2');
SET client_min_messages = warning;
DROP EXTENSION mq;
CREATE EXTENSION mq;
RESET client_min_messages;
SELECT extversion = default_version AS newest
  FROM pg_extension, pg_available_extensions WHERE extname = 'mq' AND name = 'mq';
SELECT count(*) AS functions FROM pg_proc WHERE pronamespace = 'mq'::regnamespace;
