BEGIN;
WITH r AS (
    UPDATE bq SET vt = now() + interval '30 seconds', deliveries = deliveries + 1
     WHERE id IN (SELECT id FROM bq WHERE vt <= now() ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED)
    RETURNING id, payload)
SELECT coalesce(array_agg(id), '{}') AS ids FROM r \gset
DELETE FROM bq WHERE id = ANY(:ids::bigint[]);
COMMIT;
