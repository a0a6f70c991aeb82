BEGIN;
SELECT coalesce(max(id), 0) AS id FROM mq.read('bench', 1, filter => '{"k": 0}') \gset
SELECT mq.ack('bench', :id::bigint);
COMMIT;
