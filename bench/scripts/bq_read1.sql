BEGIN;
WITH r AS (
    UPDATE bq SET vt = now() + interval '30 seconds', deliveries = deliveries + 1
     WHERE id = (SELECT id FROM bq WHERE vt <= now() ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING id, payload)
SELECT coalesce(max(id), 0) AS id FROM r \gset
DELETE FROM bq WHERE id = :id::bigint;
COMMIT;
