SELECT mq.send('bench', '{"order": 12345, "note": "hello world"}'::jsonb);
