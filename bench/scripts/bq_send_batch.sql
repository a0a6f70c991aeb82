INSERT INTO bq(payload) SELECT '{"order": 12345, "note": "hello world"}'::jsonb FROM generate_series(1, 100);
