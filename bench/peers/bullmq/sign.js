'use strict';
// Standard Webhooks signing (https://www.standardwebhooks.com/):
// webhook-signature = "v1," + base64(HMAC-SHA256(key, id + "." + timestamp + "." + body))
// where key is the base64-decoded part of the secret after "whsec_".
const crypto = require('node:crypto');

/** Decodes a "whsec_<base64>" secret (or bare base64) to the HMAC key bytes. */
function secretKey(secret) {
  const s = String(secret);
  return Buffer.from(s.startsWith('whsec_') ? s.slice(6) : s, 'base64');
}

/** Returns the webhook-signature header value for one attempt. key: Buffer or whsec_ string. */
function sign(key, id, timestamp, body) {
  const k = Buffer.isBuffer(key) ? key : secretKey(key);
  const mac = crypto.createHmac('sha256', k);
  mac.update(`${id}.${timestamp}.`);
  mac.update(body);
  return 'v1,' + mac.digest('base64');
}

module.exports = { sign, secretKey };
