'use strict';
// worker.js — the delivery process of the BullMQ peer: one BullMQ Worker on the
// "webhooks" queue that POSTs each job's payload with undici (keep-alive) and
// Standard Webhooks signatures (SPEC §4). 2xx: done; 410: UnrecoverableError
// (no further attempts); anything else or a network error: throw, and BullMQ
// retries with the job's exponential backoff until its attempts run out.
//
// Env: REDIS_URL (default redis://127.0.0.1:6379), PEER_CONCURRENCY (64),
//      PEER_TIMEOUT_MS (10000), PEER_SIGNING_SECRET (whsec_..., default a fixed test secret).
const { Worker, UnrecoverableError } = require('bullmq');
const IORedis = require('ioredis');
const { Agent, request } = require('undici');
const { sign, secretKey } = require('./sign.js');

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const CONCURRENCY = intEnv('PEER_CONCURRENCY', 64);
const TIMEOUT_MS = intEnv('PEER_TIMEOUT_MS', 10000);
// Fixed test secret (the 32 bytes 0, 1, ..., 31), used when a message has no secret of its own.
const DEFAULT_SECRET = 'whsec_' + Buffer.from(Array.from({ length: 32 }, (_, i) => i)).toString('base64');
const SIGNING_SECRET = process.env.PEER_SIGNING_SECRET || DEFAULT_SECRET;
const DEFAULT_KEY = secretKey(SIGNING_SECRET);
const USER_AGENT = 'bullmq-peer';

function intEnv(name, dflt) {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer`);
  return n;
}

function log(level, msg, extra) {
  process.stdout.write(JSON.stringify({ ts: new Date().toISOString(), level, proc: 'peer-worker', msg, ...extra }) + '\n');
}

// One shared keep-alive agent: up to 128 sockets per origin, idle sockets kept 30 s.
// Redirects are not followed (undici's default).
const agent = new Agent({ connections: 128, keepAliveTimeout: 30000, keepAliveMaxTimeout: 30000 });

async function deliver(job) {
  const d = job.data;
  const id = job.id; // stable across retries: the webhook-id
  const body = JSON.stringify(d.payload);
  const timestamp = Math.floor(Date.now() / 1000);
  const headers = {};
  if (d.headers) {
    for (const name of Object.keys(d.headers)) headers[name.toLowerCase()] = d.headers[name];
  }
  headers['content-type'] = 'application/json';
  headers['user-agent'] = USER_AGENT;
  headers['webhook-id'] = id;
  headers['webhook-timestamp'] = String(timestamp);
  headers['webhook-signature'] = sign(d.secret ? secretKey(d.secret) : DEFAULT_KEY, id, timestamp, body);
  const timeout = d.timeout_ms || TIMEOUT_MS;
  const res = await request(d.url, {
    method: 'POST',
    headers,
    body,
    dispatcher: agent,
    headersTimeout: timeout,
    bodyTimeout: timeout,
  });
  // Read the answer to its end (up to undici's dump limit) so the socket is reused.
  await res.body.dump();
  const status = res.statusCode;
  if (status >= 200 && status < 300) return;
  if (status === 410) throw new UnrecoverableError('HTTP 410 Gone');
  throw new Error(`HTTP ${status}`);
}

// BullMQ wants maxRetriesPerRequest: null on a Worker's connection (it blocks on Redis).
const connection = new IORedis(REDIS_URL, { maxRetriesPerRequest: null });
connection.on('error', (err) => log('error', 'redis connection error', { error: err.message }));

const worker = new Worker('webhooks', deliver, { connection, concurrency: CONCURRENCY });
worker.on('error', (err) => log('error', 'worker error', { error: err.message }));
worker.on('ready', () => {
  log('info', 'peer worker started', {
    redis: REDIS_URL, concurrency: CONCURRENCY, timeout_ms: TIMEOUT_MS,
    node: process.version, bullmq: require('bullmq/package.json').version,
  });
});

let stopping = false;
async function stop(signal) {
  if (stopping) return;
  stopping = true;
  log('info', 'stopping', { signal });
  try { await worker.close(); } catch (err) { log('error', 'worker close failed', { error: err.message }); }
  try { await agent.close(); } catch { /* closing anyway */ }
  try { await connection.quit(); } catch { /* closing anyway */ }
  process.exit(0);
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
