\set p random(0, :pmax)
SELECT mq.send('bench', '{"order": 12345, "note": "hello world"}'::jsonb, priority => :p);
