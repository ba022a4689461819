// Creates what a spec on stdin describes, with BullMQ's own API, then exits:
//   node seed.mjs REDIS_URL PREFIX QUEUE < spec.json
// spec: [{"scheduler": id, "repeat": {...}, "name": ..., "data": {...}}   upsertJobScheduler
//        {"legacy": name, "data": {...}, "opts": {"jobId": ..., "repeat": {...}}}]   add(..., {repeat})
// Prints one JSON line: {"created": N}.
import { Queue } from 'bullmq';

const [redisUrl, prefix, queueName] = process.argv.slice(2);
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const spec = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const url = new URL(redisUrl);
const queue = new Queue(queueName, {
  prefix,
  connection: { host: url.hostname, port: Number(url.port), db: Number(url.pathname.slice(1) || 0) },
});
let created = 0;
for (const item of spec) {
  if (item.scheduler !== undefined) {
    await queue.upsertJobScheduler(item.scheduler, item.repeat, { name: item.name, data: item.data });
  } else {
    await queue.add(item.legacy, item.data, item.opts);
  }
  created += 1;
}
await queue.close();
console.log(JSON.stringify({ created }));
