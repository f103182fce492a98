'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { sign, secretKey } = require('../sign.js');

test('Standard Webhooks reference vector', () => {
  const sig = sign('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_p5jXN8AQM9LWM0D4loKWxJek',
    1614265330, '{"test": 2432232314}');
  assert.strictEqual(sig, 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
});

test('a pre-decoded key signs the same', () => {
  const key = secretKey('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
  assert.strictEqual(sign(key, 'msg_p5jXN8AQM9LWM0D4loKWxJek', '1614265330',
    Buffer.from('{"test": 2432232314}')), 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
});

test('a different body changes the signature', () => {
  assert.notStrictEqual(
    sign('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 1}'),
    'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
});
