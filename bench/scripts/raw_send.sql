INSERT INTO raw(payload) VALUES ('{"order": 12345, "note": "hello world"}'::jsonb);
