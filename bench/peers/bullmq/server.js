'use strict';
// server.js — the API process of the BullMQ peer: zhook's message, batch,
// subscription and event endpoints (SPEC §3) on node:http, stored as BullMQ
// jobs in Redis. Deliveries are made by worker.js.
//
// Env: PEER_PORT (required), REDIS_URL (default redis://127.0.0.1:6379),
//      PEER_MAX_ATTEMPTS (8), PEER_RETRY_BASE_MS (1000), PEER_RETRY_JITTER (0).
//
// Redis keys of our own (besides BullMQ's bull:webhooks:*): one hash per topic,
// peer:topic:<topic>, field = subscription id, value = JSON {url, secret, headers}.
// An event is then one HGETALL plus one addBulk.
const http = require('node:http');
const crypto = require('node:crypto');
const { Queue } = require('bullmq');
const IORedis = require('ioredis');

const PORT = Number(process.env.PEER_PORT);
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const MAX_ATTEMPTS = intEnv('PEER_MAX_ATTEMPTS', 8);
const RETRY_BASE_MS = intEnv('PEER_RETRY_BASE_MS', 1000);
const RETRY_JITTER = Number(process.env.PEER_RETRY_JITTER || 0);

const BODY_MAX = 262144;
const URL_MAX = 2048;
const HEADERS_MAX = 32;
const HEADER_NAME_MAX = 256;
const HEADER_VALUE_MAX = 8192;
const DELAY_MAX_MS = 365 * 24 * 3600 * 1000;
const BATCH_MAX = 1000;
const TOPIC_MAX = 128;
const KEEP_COMPLETED_S = 259200; // 3 days

const MESSAGE_FIELDS = new Set(['url', 'payload', 'deliver_at', 'delay_ms', 'headers',
  'max_attempts', 'timeout_ms', 'secret']);
const SUBSCRIPTION_FIELDS = new Set(['topic', 'url', 'secret', 'headers', 'description']);
const EVENT_FIELDS = new Set(['topic', 'payload', 'deliver_at', 'delay_ms']);
const REFUSED_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection']);
const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const RFC3339_RE = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
const TOPIC_RE = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/;
const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

const TITLES = {
  400: ['Bad Request', 'malformed-request'], 404: ['Not Found', 'not-found'],
  405: ['Method Not Allowed', 'method-not-allowed'], 413: ['Content Too Large', 'body-too-large'],
  422: ['Unprocessable Content', 'validation-failed'], 500: ['Internal Server Error', 'internal-error'],
  503: ['Service Unavailable', 'scheduler-unavailable'],
};

function intEnv(name, dflt) {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer`);
  return n;
}

function log(level, msg, extra) {
  process.stdout.write(JSON.stringify({ ts: new Date().toISOString(), level, proc: 'peer-server', msg, ...extra }) + '\n');
}

// --- responses -------------------------------------------------------------

function send(res, status, obj, headers) {
  const body = obj === undefined ? '' : JSON.stringify(obj);
  const h = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
  if (headers) Object.assign(h, headers);
  res.writeHead(status, h);
  res.end(body);
}

function problemBody(status, detail, errors) {
  const [title, slug] = TITLES[status] || [status >= 500 ? 'Server Error' : 'Client Error',
    status >= 500 ? 'server-error' : 'client-error'];
  const p = { type: `https://zhook.dev/problems/${slug}`, title, status, detail: detail || title };
  if (errors) p.errors = errors;
  return p;
}

function problem(res, status, detail, errors, headers) {
  send(res, status, problemBody(status, detail, errors),
    Object.assign({ 'content-type': 'application/problem+json' }, headers));
}

// --- validation ------------------------------------------------------------

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function checkUrl(v) {
  if (typeof v !== 'string') return 'must be a string';
  if (Buffer.byteLength(v) > URL_MAX) return `must be at most ${URL_MAX} bytes`;
  let u;
  try { u = new URL(v); } catch { return 'must be an absolute http or https URL'; }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || !u.hostname) {
    return 'must be an absolute http or https URL';
  }
  return null;
}

function checkHeaders(v, prefix, errors) {
  if (!isObject(v)) { errors.push({ field: prefix + 'headers', message: 'must be an object of strings' }); return; }
  const names = Object.keys(v);
  if (names.length > HEADERS_MAX) {
    errors.push({ field: prefix + 'headers', message: `must have at most ${HEADERS_MAX} entries` });
    return;
  }
  for (const name of names) {
    const field = `${prefix}headers.${name}`;
    const lower = name.toLowerCase();
    const value = v[name];
    if (name.length > HEADER_NAME_MAX || !TOKEN_RE.test(name)) {
      errors.push({ field, message: 'name must be an HTTP token' });
    } else if (REFUSED_HEADERS.has(lower) || lower.startsWith('webhook-')) {
      errors.push({ field, message: 'this header is set by the deliverer and cannot be given' });
    } else if (typeof value !== 'string') {
      errors.push({ field, message: 'must be a string' });
    } else if (value.length > HEADER_VALUE_MAX || /[\r\n\0]/.test(value)) {
      errors.push({ field, message: `must be at most ${HEADER_VALUE_MAX} bytes without CR, LF or NUL` });
    }
  }
}

function checkSecret(v) {
  if (typeof v !== 'string' || !v.startsWith('whsec_')) return 'must be whsec_ followed by base64';
  const b64 = v.slice(6);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return 'must be whsec_ followed by base64';
  const n = Buffer.from(b64, 'base64').length;
  if (n < 24 || n > 64) return 'the key must be 24 to 64 bytes';
  return null;
}

function checkTopic(v) {
  if (typeof v !== 'string') return 'must be a string';
  if (v.length === 0 || Buffer.byteLength(v) > TOPIC_MAX) return 'must be 1 to 128 bytes';
  if (!TOPIC_RE.test(v)) return 'must be dot-separated segments of lowercase a-z, 0-9, _ and -';
  return null;
}

/** The due time (ms since the epoch) from delay_ms / deliver_at, or null after adding errors. */
function checkDue(o, prefix, errors, now) {
  const hasDelay = o.delay_ms !== undefined;
  const hasAt = o.deliver_at !== undefined;
  if (hasDelay && hasAt) {
    errors.push({ field: prefix + 'deliver_at', message: 'give deliver_at or delay_ms, not both' });
    return null;
  }
  if (hasDelay) {
    const d = o.delay_ms;
    if (!Number.isInteger(d) || d < 0 || d > DELAY_MAX_MS) {
      errors.push({ field: prefix + 'delay_ms', message: `must be an integer from 0 to ${DELAY_MAX_MS}` });
      return null;
    }
    return now + d;
  }
  if (hasAt) {
    const s = o.deliver_at;
    const t = typeof s === 'string' && RFC3339_RE.test(s) ? Date.parse(s.toUpperCase().replace(' ', 'T')) : NaN;
    if (!Number.isFinite(t)) {
      errors.push({ field: prefix + 'deliver_at', message: 'must be an RFC 3339 date-time' });
      return null;
    }
    if (t - now > DELAY_MAX_MS) {
      errors.push({ field: prefix + 'deliver_at', message: 'must be at most one year ahead' });
      return null;
    }
    return Math.max(t, now);
  }
  return now;
}

function unknownFields(o, allowed, prefix, errors) {
  for (const k of Object.keys(o)) {
    if (!allowed.has(k)) errors.push({ field: prefix + k, message: 'unknown field' });
  }
}

/** Validates one message object; returns {errors, msg}. */
function validateMessage(o, prefix, now) {
  const errors = [];
  if (!isObject(o)) {
    errors.push({ field: prefix.replace(/\.$/, '') || 'body', message: 'must be a JSON object' });
    return { errors };
  }
  unknownFields(o, MESSAGE_FIELDS, prefix, errors);
  if (o.url === undefined) errors.push({ field: prefix + 'url', message: 'is required' });
  else { const e = checkUrl(o.url); if (e) errors.push({ field: prefix + 'url', message: e }); }
  if (o.payload === undefined) errors.push({ field: prefix + 'payload', message: 'is required' });
  const due = checkDue(o, prefix, errors, now);
  if (o.headers !== undefined) checkHeaders(o.headers, prefix, errors);
  if (o.max_attempts !== undefined && (!Number.isInteger(o.max_attempts) || o.max_attempts < 1 || o.max_attempts > 100)) {
    errors.push({ field: prefix + 'max_attempts', message: 'must be an integer from 1 to 100' });
  }
  if (o.timeout_ms !== undefined && (!Number.isInteger(o.timeout_ms) || o.timeout_ms < 100 || o.timeout_ms > 60000)) {
    errors.push({ field: prefix + 'timeout_ms', message: 'must be an integer from 100 to 60000' });
  }
  if (o.secret !== undefined) { const e = checkSecret(o.secret); if (e) errors.push({ field: prefix + 'secret', message: e }); }
  if (errors.length) return { errors };
  return {
    errors,
    msg: {
      url: o.url, payload: o.payload, headers: o.headers, secret: o.secret,
      timeout_ms: o.timeout_ms, max_attempts: o.max_attempts || MAX_ATTEMPTS, due,
    },
  };
}

// --- ids -------------------------------------------------------------------

function newId(prefix) {
  return prefix + crypto.randomUUID().replace(/-/g, '');
}

function derivedId(prefix, ...parts) {
  return prefix + crypto.createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 32);
}

// --- BullMQ ----------------------------------------------------------------

const connection = new IORedis(REDIS_URL);
connection.on('error', (err) => log('error', 'redis connection error', { error: err.message }));
const queue = new Queue('webhooks', { connection });
queue.on('error', (err) => log('error', 'queue error', { error: err.message }));

const backoff = RETRY_JITTER > 0
  ? { type: 'exponential', delay: RETRY_BASE_MS, jitter: RETRY_JITTER }
  : { type: 'exponential', delay: RETRY_BASE_MS };

function job(id, msg, now) {
  return {
    name: 'deliver',
    data: { url: msg.url, payload: msg.payload, headers: msg.headers, secret: msg.secret, timeout_ms: msg.timeout_ms },
    opts: {
      jobId: id,
      delay: Math.max(0, msg.due - now),
      attempts: msg.max_attempts,
      backoff,
      removeOnComplete: { age: KEEP_COMPLETED_S },
      removeOnFail: false,
    },
  };
}

function accepted(id, due) {
  return { id, status: 'scheduled', deliver_at: new Date(due).toISOString() };
}

// --- handlers --------------------------------------------------------------

async function createMessage(req, res, body) {
  const now = Date.now();
  const { errors, msg } = validateMessage(body, '', now);
  if (errors.length) return problem(res, 422, 'the request has invalid fields', errors);
  const key = idempotencyKey(req);
  const id = key ? derivedId('msg_', 'message', key) : newId('msg_');
  const j = job(id, msg, now);
  await queue.add(j.name, j.data, j.opts);
  send(res, 202, accepted(id, msg.due), { location: `/v1/messages/${id}` });
}

async function createBatch(req, res, body) {
  const now = Date.now();
  if (!isObject(body) || !Array.isArray(body.messages)) {
    return problem(res, 422, 'the request has invalid fields', [{ field: 'messages', message: 'must be an array' }]);
  }
  const extra = [];
  unknownFields(body, new Set(['messages']), '', extra);
  const list = body.messages;
  if (extra.length) return problem(res, 422, 'the request has invalid fields', extra);
  if (list.length < 1 || list.length > BATCH_MAX) {
    return problem(res, 422, 'the request has invalid fields',
      [{ field: 'messages', message: `must have 1 to ${BATCH_MAX} items` }]);
  }
  const items = new Array(list.length);
  const jobs = [];
  const allErrors = [];
  for (let i = 0; i < list.length; i++) {
    const { errors, msg } = validateMessage(list[i], `messages[${i}].`, now);
    if (errors.length) {
      allErrors.push(...errors);
      items[i] = { status: 'invalid', error: problemBody(422, 'the message is invalid', errors) };
    } else {
      const id = newId('msg_');
      jobs.push(job(id, msg, now));
      items[i] = accepted(id, msg.due);
    }
  }
  if (jobs.length === 0) return problem(res, 422, 'every message in the batch is invalid', allErrors);
  await queue.addBulk(jobs);
  send(res, 202, { items });
}

async function createSubscription(req, res, body) {
  const errors = [];
  if (!isObject(body)) return problem(res, 422, 'the request has invalid fields', [{ field: 'body', message: 'must be a JSON object' }]);
  unknownFields(body, SUBSCRIPTION_FIELDS, '', errors);
  if (body.topic === undefined) errors.push({ field: 'topic', message: 'is required' });
  else { const e = checkTopic(body.topic); if (e) errors.push({ field: 'topic', message: e }); }
  if (body.url === undefined) errors.push({ field: 'url', message: 'is required' });
  else { const e = checkUrl(body.url); if (e) errors.push({ field: 'url', message: e }); }
  if (body.secret !== undefined) { const e = checkSecret(body.secret); if (e) errors.push({ field: 'secret', message: e }); }
  if (body.headers !== undefined) checkHeaders(body.headers, '', errors);
  if (body.description !== undefined && (typeof body.description !== 'string' || body.description.length > 1024)) {
    errors.push({ field: 'description', message: 'must be a string of at most 1024 bytes' });
  }
  if (errors.length) return problem(res, 422, 'the request has invalid fields', errors);
  const id = newId('sub_');
  const secret = body.secret || 'whsec_' + crypto.randomBytes(32).toString('base64');
  const sub = { url: body.url, secret };
  if (body.headers) sub.headers = body.headers;
  await connection.hset(`peer:topic:${body.topic}`, id, JSON.stringify(sub));
  const out = { id, topic: body.topic, url: body.url, secret };
  if (body.headers) out.headers = body.headers;
  if (body.description !== undefined) out.description = body.description;
  send(res, 201, out, { location: `/v1/subscriptions/${id}` });
}

async function createEvent(req, res, body) {
  const now = Date.now();
  const errors = [];
  if (!isObject(body)) return problem(res, 422, 'the request has invalid fields', [{ field: 'body', message: 'must be a JSON object' }]);
  unknownFields(body, EVENT_FIELDS, '', errors);
  if (body.topic === undefined) errors.push({ field: 'topic', message: 'is required' });
  else { const e = checkTopic(body.topic); if (e) errors.push({ field: 'topic', message: e }); }
  if (body.payload === undefined) errors.push({ field: 'payload', message: 'is required' });
  const due = checkDue(body, '', errors, now);
  if (errors.length) return problem(res, 422, 'the request has invalid fields', errors);
  const key = idempotencyKey(req);
  const evtId = key ? derivedId('evt_', 'event', key) : newId('evt_');
  const subs = await connection.hgetall(`peer:topic:${body.topic}`);
  const jobs = [];
  const ids = [];
  for (const [subId, raw] of Object.entries(subs)) {
    const sub = JSON.parse(raw);
    const id = key ? derivedId('msg_', 'event', key, subId) : newId('msg_');
    ids.push(id);
    jobs.push(job(id, { url: sub.url, payload: body.payload, headers: sub.headers, secret: sub.secret,
      max_attempts: MAX_ATTEMPTS, due }, now));
  }
  if (jobs.length) await queue.addBulk(jobs);
  send(res, 202, { id: evtId, messages: ids }, { location: `/v1/events/${evtId}` });
}

function idempotencyKey(req) {
  const k = req.headers['idempotency-key'];
  return typeof k === 'string' && k.length > 0 && k.length <= 255 ? k : null;
}

// --- routing ---------------------------------------------------------------

const ROUTES = {
  '/v1/messages': createMessage,
  '/v1/messages/batch': createBatch,
  '/v1/subscriptions': createSubscription,
  '/v1/events': createEvent,
};

function readBody(req, res, handler) {
  const declared = Number(req.headers['content-length']);
  if (declared > BODY_MAX) {
    return problem(res, 413, `the request body is larger than ${BODY_MAX} bytes`, undefined, { connection: 'close' });
  }
  const chunks = [];
  let size = 0;
  let done = false;
  req.on('data', (c) => {
    if (done) return;
    size += c.length;
    if (size > BODY_MAX) {
      done = true;
      problem(res, 413, `the request body is larger than ${BODY_MAX} bytes`, undefined, { connection: 'close' });
      return;
    }
    chunks.push(c);
  });
  req.on('end', () => {
    if (done) return;
    done = true;
    let body;
    try {
      body = JSON.parse(chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8'));
    } catch (err) {
      return problem(res, 400, 'the request body is not valid JSON');
    }
    handler(req, res, body).catch((err) => {
      log('error', 'request failed', { path: req.url, error: err.message });
      if (!res.headersSent) problem(res, 503, 'the queue could not store the request; retry later');
    });
  });
  req.on('error', () => { done = true; });
}

function onRequest(req, res) {
  const rid = req.headers['x-request-id'];
  res.setHeader('x-request-id', typeof rid === 'string' && REQUEST_ID_RE.test(rid) ? rid : crypto.randomUUID());
  const q = req.url.indexOf('?');
  const path = q < 0 ? req.url : req.url.slice(0, q);
  if (path === '/live' || path === '/ready') {
    if (req.method !== 'GET' && req.method !== 'HEAD') return problem(res, 405, undefined, undefined, { allow: 'GET, HEAD' });
    if (path === '/live') return send(res, 200, { status: 'ok' });
    return connection.status === 'ready'
      ? send(res, 200, { status: 'ready' })
      : send(res, 503, { status: connection.status });
  }
  const handler = ROUTES[path];
  if (!handler) return problem(res, 404, `no route for ${path}`);
  if (req.method !== 'POST') return problem(res, 405, undefined, undefined, { allow: 'POST' });
  readBody(req, res, handler);
}

// --- start and stop ----------------------------------------------------------

if (!Number.isInteger(PORT) || PORT <= 0 || PORT > 65535) {
  log('error', 'PEER_PORT must be set to a TCP port');
  process.exit(2);
}

const server = http.createServer(onRequest);
server.on('clientError', (err, socket) => {
  if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
  else socket.destroy();
});
server.listen(PORT, '127.0.0.1', () => {
  log('info', 'peer server listening', {
    addr: `127.0.0.1:${PORT}`, redis: REDIS_URL, max_attempts: MAX_ATTEMPTS, retry_base_ms: RETRY_BASE_MS,
    node: process.version, bullmq: require('bullmq/package.json').version,
  });
});

let stopping = false;
async function stop(signal) {
  if (stopping) return;
  stopping = true;
  log('info', 'stopping', { signal });
  const force = setTimeout(() => process.exit(0), 5000);
  force.unref();
  server.close();
  server.closeIdleConnections();
  try { await queue.close(); } catch { /* closing anyway */ }
  try { await connection.quit(); } catch { /* closing anyway */ }
  process.exit(0);
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
