BEGIN;
SELECT coalesce(array_agg(id), '{}') AS ids FROM mq.read('bench', 100) \gset
SELECT mq.ack('bench', :ids::bigint[]);
COMMIT;
