// The pg-boss peer of `python -m bench` (run with the Node 22 of node_modules/.bin/node).
//
//   node peer.mjs send   --database URL --count N --at UNIX_SECONDS
//       creates the queue and inserts N jobs with startAfter = the instant (pg-boss `insert`, 1,000
//       a statement); prints "ready <seconds>" and exits
//   node peer.mjs worker --database URL --target URL
//       boss.work() on the queue; each fetched batch is POSTed job by job, in parallel, to the
//       target with the slot in X-Scheduler-Scheduled-At; prints "ready"; SIGTERM stops
//
// pg-boss's cron (`schedule`) is minute-granular, so a per-second schedule cannot be expressed:
// this peer runs the burst only, where a job delayed to the instant is the pg-boss way.
import { PgBoss } from 'pg-boss';
import shared from '../post.cjs';

const { main, poster } = shared;

const QUEUE = 'bench';
export const BATCH_SIZE = 100;
export const LOCAL_CONCURRENCY = 4;
export const POLLING_S = 0.5; // pg-boss's minimum

async function boss(url) {
  const b = new PgBoss({ connectionString: url, max: 8 });
  b.on('error', (err) => process.stderr.write(`pg-boss error: ${err}\n`));
  await b.start();
  await b.createQueue(QUEUE).catch(() => {});
  return b;
}

async function send(opts) {
  const b = await boss(opts.database);
  const count = Number(opts.count);
  const startAfter = new Date(Number(opts.at) * 1000);
  const started = process.hrtime.bigint();
  for (let first = 0; first < count; first += 1000) {
    const jobs = [];
    for (let i = first; i < Math.min(count, first + 1000); i++) jobs.push({ data: { i }, startAfter });
    await b.insert(QUEUE, jobs);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await b.stop({ graceful: false });
  process.stdout.write(`ready ${seconds.toFixed(3)}\n`);
}

async function worker(opts) {
  const client = poster(opts.target, BATCH_SIZE * LOCAL_CONCURRENCY);
  function post(job) {
    const slot = new Date(job.startAfter).toISOString();
    return client.post(slot, `j${job.data.i}:${slot}`, { job: job.id, data: job.data });
  }
  const b = await boss(opts.database);
  await b.work(
    QUEUE,
    { batchSize: BATCH_SIZE, localConcurrency: LOCAL_CONCURRENCY, pollingIntervalSeconds: POLLING_S, burstWhenBatchFull: true, includeMetadata: true },
    (jobs) => Promise.all(jobs.map(post)),
  );
  process.stdout.write('ready\n');
  const stop = async () => {
    await b.stop({ graceful: false });
    client.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main({ send, worker }, 'node peer.mjs send|worker --option value ...');
