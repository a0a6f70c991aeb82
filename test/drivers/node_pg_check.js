// The natural calls of mq from Node with the `pg` driver, which sends every
// parameter untyped: send, read, ack/archive/nack/set_vt of one id and of
// many, the documented 22004 for a NULL id, and results as the typed forms
// give them (true/false, a count, a time).
//
// usage: node node_pg_check.js "postgres://..."   (exit 1 on a failed check)
'use strict';
const { Client } = require('pg');

let failures = 0;
function check(ok, what) {
  console.log((ok ? 'ok     ' : 'FAILED ') + what);
  if (!ok) failures++;
}

async function main() {
  const c = new Client({ connectionString: process.argv[2] });
  await c.connect();
  const one = async (sql, params) => (await c.query(sql, params)).rows[0];
  await c.query('SET client_min_messages = warning');
  await c.query('CREATE EXTENSION IF NOT EXISTS mq');
  await c.query('SELECT mq.drop_queue($1, true)', ['node_q']);
  await c.query('SELECT mq.create_queue($1)', ['node_q']);

  const ids = [];
  for (let n = 1; n <= 7; n++) {
    ids.push((await one('SELECT mq.send($1, $2) AS id', ['node_q', { n }])).id);
  }
  const read = await c.query('SELECT id, payload FROM mq.read($1, $2)', ['node_q', 7]);
  check(read.rows.length === 7 && read.rows[0].payload.n === 1, 'node-pg: read 7 messages, payload parsed');

  check((await one('SELECT mq.ack($1, $2) AS r', ['node_q', ids[0]])).r === true, 'node-pg: mq.ack(queue, id) is true');
  check((await one('SELECT mq.ack($1, $2) AS r', ['node_q', ids[0]])).r === false, 'node-pg: acked again, false');
  check((await one('SELECT mq.ack($1, $2) AS r', ['node_q', [ids[1], ids[2]]])).r === 2, 'node-pg: mq.ack(queue, [ids]) counts 2');
  check((await one('SELECT mq.archive($1, $2) AS r', ['node_q', ids[3]])).r === true, 'node-pg: mq.archive(queue, id)');
  check((await one('SELECT mq.archive($1, $2) AS r', ['node_q', [ids[4]]])).r === 1, 'node-pg: mq.archive(queue, [ids])');
  check((await one('SELECT mq.nack($1, $2, $3) AS r', ['node_q', ids[5], 'boom'])).r === true, 'node-pg: mq.nack(queue, id, error)');
  check((await one('SELECT mq.nack($1, $2, $3) AS r', ['node_q', [ids[5], ids[6]], 'boom'])).r === 2, 'node-pg: mq.nack(queue, [ids], error)');
  const vt = (await one('SELECT mq.set_vt($1, $2, $3) AS r', ['node_q', ids[5], '1 hour'])).r;
  check(typeof vt === 'string' && new Date(vt) > new Date(), `node-pg: mq.set_vt(queue, id, vt) gives the new time (${vt})`);
  check((await one('SELECT mq.set_vt($1, $2, $3) AS r', ['node_q', [ids[5], ids[6]], '1 hour'])).r === 2, 'node-pg: mq.set_vt(queue, [ids], vt)');
  check((await one('SELECT count(*)::int AS n FROM mq.peek($1, $2)', ['node_q', 10])).n === 2, 'node-pg: mq.peek sees the two left');

  let state = null;
  try {
    await c.query('SELECT mq.ack($1, $2)', ['node_q', null]);
  } catch (e) {
    state = e.code;
  }
  check(state === '22004', `node-pg: mq.ack(queue, null) raises 22004 (got ${state})`);

  // the same through a named (prepared) statement, as pools often do
  let acked = 0;
  for (const id of [ids[5], ids[6]]) {
    const r = await c.query({ name: 'mq_ack', text: 'SELECT mq.ack($1, $2) AS r', values: ['node_q', id] });
    if (r.rows[0].r === true) acked++;
  }
  check(acked === 2, 'node-pg: prepared mq.ack, 2 times');

  await c.query('SELECT mq.drop_queue($1)', ['node_q']);
  await c.end();
  console.log(failures === 0 ? 'node-pg: all checks passed' : 'node-pg: FAILED');
  process.exit(failures === 0 ? 0 : 1);
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
