// The BullMQ peer of `python -m bench`, run the way the replaced system ran BullMQ: schedules are
// job schedulers (`upsertJobScheduler` with a seconds cron), and Workers whose processor POSTs
// each iteration to the workflow endpoint with the slot in `X-Scheduler-Scheduled-At`.
//
//   node peer.js setup  --redis URL --count N --pattern CRON [--parallel P]
//       upserts job schedulers s0..s(N-1) on queue "bench"; prints "ready <seconds>" and exits
//   node peer.js worker --redis URL --target URL --concurrency C
//       one Worker; prints "ready" once connected; SIGTERM closes it
//
// The slot of an iteration is `job.opts.prevMillis` (BullMQ's scheduler sets it to the instant
// the iteration is due); the Idempotency-Key is "<scheduler id>:<slot>", so a repeat is seen.
'use strict';
const { Queue, Worker } = require('bullmq');
const { main, poster } = require('../post.cjs');

const QUEUE = 'bench';

function connection(url) {
  const u = new URL(url);
  // maxRetriesPerRequest null: what BullMQ asks of a Worker's connection.
  return { host: u.hostname, port: Number(u.port), maxRetriesPerRequest: null };
}

async function setup(opts) {
  const queue = new Queue(QUEUE, { connection: connection(opts.redis) });
  await queue.waitUntilReady();
  const count = Number(opts.count);
  const parallel = Number(opts.parallel || 500);
  const template = { name: 'tick', opts: { removeOnComplete: true, removeOnFail: 1000 } };
  const started = process.hrtime.bigint();
  // A window of `parallel` upserts in flight: ioredis pipelines them on one connection.
  let next = 0;
  async function lane() {
    while (next < count) {
      const i = next++;
      await queue.upsertJobScheduler(`s${i}`, { pattern: opts.pattern }, { ...template, data: { i } });
    }
  }
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, lane));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await queue.close();
  process.stdout.write(`ready ${seconds.toFixed(3)}\n`);
}

async function worker(opts) {
  const concurrency = Number(opts.concurrency);
  const client = poster(opts.target, concurrency);
  function post(job) {
    const slot = new Date(Number(job.opts.prevMillis)).toISOString();
    const payload = { scheduler: job.repeatJobKey, data: job.data };
    return client.post(slot, `${job.repeatJobKey}:${slot}`, payload);
  }
  const w = new Worker(QUEUE, post, { connection: connection(opts.redis), concurrency });
  w.on('error', (err) => process.stderr.write(`worker error: ${err}\n`));
  await w.waitUntilReady();
  process.stdout.write('ready\n');
  const stop = async () => {
    await w.close();
    client.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main({ setup, worker }, 'node peer.js setup|worker --option value ...');
