SELECT count(*) FROM mq.send_batch('bench', array_fill('{"order": 12345, "note": "hello world"}'::jsonb, ARRAY[100]));
