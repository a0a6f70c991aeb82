SELECT mq.send('bench', '{"order": 12345, "note": "hello world"}'::jsonb);
BEGIN;
SELECT coalesce(max(id), 0) AS id FROM mq.read('bench', 1) \gset
SELECT mq.ack('bench', :id::bigint);
COMMIT;
