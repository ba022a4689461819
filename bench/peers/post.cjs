// What the Node peers share (bullmq/peer.js, pgboss/peer.mjs): their command line, and one POST
// to the bench target per job, with the slot and an idempotency key, as the replaced worker sent.
'use strict';
const http = require('node:http');

/** `--name value` pairs as an object. */
function options(argv) {
  const opts = {};
  for (let i = 0; i < argv.length; i += 2) opts[argv[i].replace(/^--/, '')] = argv[i + 1];
  return opts;
}

/** A keep-alive client of `targetUrl` (at most `maxSockets` connections): `post(slot, key,
 * payload)` resolves once a 2xx answer is read, rejects otherwise; `close()` ends it. */
function poster(targetUrl, maxSockets) {
  const target = new URL(targetUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  function post(slot, key, payload) {
    const body = JSON.stringify(payload);
    return new Promise((resolve, reject) => {
      const request = http.request(
        {
          agent,
          host: target.hostname,
          port: target.port,
          path: target.pathname,
          method: 'POST',
          headers: {
            'Content-Type': 'application/json',
            'Content-Length': Buffer.byteLength(body),
            'X-Scheduler-Scheduled-At': slot,
            'Idempotency-Key': key,
          },
        },
        (answer) => {
          answer.resume();
          answer.on('end', () =>
            answer.statusCode < 300 ? resolve() : reject(new Error(`HTTP ${answer.statusCode}`)),
          );
        },
      );
      request.on('error', reject);
      request.end(body);
    });
  }
  return { post, close: () => agent.destroy() };
}

/** Runs `roles[argv[0]]` with the options that follow; exits 2 on an unknown role, 1 on error. */
function main(roles, usage) {
  const [role, ...rest] = process.argv.slice(2);
  const run = roles[role];
  if (!run) {
    process.stderr.write(`usage: ${usage}\n`);
    process.exit(2);
  }
  run(options(rest)).catch((err) => {
    process.stderr.write(`${err.stack || err}\n`);
    process.exit(1);
  });
}

module.exports = { poster, main };
