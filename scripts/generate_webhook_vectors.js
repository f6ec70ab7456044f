#!/usr/bin/env node
// Generates tests/fixtures/webhook_vectors.json: webhook deliveries signed exactly as the vendor's
// Node.js sample does (crypto.createHmac over JSON.stringify), plus JSON.stringify(JSON.parse(x))
// serialisation vectors, so the Python verifier is checked against JavaScript itself rather than
// against our reading of it.
//
//   node scripts/generate_webhook_vectors.js > tests/fixtures/webhook_vectors.json
//
// Deterministic: a fixed "now" and a seeded PRNG, so re-running gives the same file.
'use strict';

const crypto = require('crypto');

const SECRET = 'sim_secret';
const NOW = 1704067200; // the vendor's sample timestamp, seconds

function sign(secret, text) {
  return crypto.createHmac('sha256', secret).update(text).digest('hex');
}

// Vendor behaviour: sign JSON.stringify(body), send that same string.
function delivery(name, body, opts = {}) {
  const signed = JSON.stringify(body);
  const sent = opts.sent !== undefined ? opts.sent : signed;
  const secret = opts.signSecret || SECRET;
  const headers = {
    'Content-Type': 'application/json',
    'X-Webhook-Signature': sign(secret, opts.signOver !== undefined ? opts.signOver : signed),
    'X-Webhook-Event': body && body.event,
    'X-Webhook-Timestamp': String(body && body.timestamp),
  };
  Object.assign(headers, opts.headers || {});
  for (const dropped of opts.drop || []) delete headers[dropped];
  return {
    name,
    secret: SECRET,
    now: NOW,
    body: sent,
    headers,
    expect: opts.expect || 'ok',
    signed_over: opts.signedOver || 'raw',
    // What the sender's JavaScript saw: the verified event must equal JSON.parse(body).
    parsed_event: body && body.event,
  };
}

function task(event, data, ts = NOW) {
  return { event, timestamp: ts, data };
}

const completed = task('task.completed', {
  taskId: 'task_abc123',
  status: 'completed',
  videoUrl: 'https://cdn.example.com/video.mp4',
  thumbnailUrl: 'https://cdn.example.com/thumb.jpg',
  duration: 15,
});

const deliveries = [
  delivery('task_completed', completed),
  delivery(
    'task_failed_chinese',
    task('task.failed', { taskId: 'task_f1', status: 'failed', errorMessage: '生成失败:图片无法访问 “引号” \\ 反斜杠' })
  ),
  delivery(
    'low_balance_chinese',
    task('account.low_balance', {
      userId: 'user_xyz',
      currentBalance: 800,
      threshold: 1000,
      message: '关联账号算力余额不足,当前余额: 800,预警阈值: 1000',
    })
  ),
  delivery(
    'insufficient_balance',
    task('account.insufficient_balance', { userId: 'user_xyz', currentBalance: 5, required: 150, message: '余额不足' })
  ),
  delivery(
    'floats_and_large_integers',
    task('task.completed', {
      taskId: 'task_num',
      duration: 15.5,
      ratio: 0.1 + 0.2,
      tiny: 1e-7,
      small: 0.000001,
      huge: 1e21,
      big: 123456789012345680000,
      maxSafe: 9007199254740991,
      beyondSafe: 9007199254740993, // becomes ...992 in JavaScript
      negative: -42.125,
      minValue: 5e-324,
      maxValue: 1.7976931348623157e308,
      negZero: -0,
    })
  ),
  delivery(
    'nested_and_integer_like_keys',
    task('task.completed', {
      taskId: 'task_nested',
      meta: {
        b: 1,
        10: 'ten',
        2: 'two',
        a: { z: [1, { y: null, x: [true, false] }], 0: 'zero' },
        '01': 'not an index',
        4294967294: 'max index',
        4294967295: 'not an index (2^32-1)',
        '-1': 'negative',
        '1.5': 'fraction',
      },
      list: [[], {}, [[]], ''],
    })
  ),
  delivery(
    'escapes_emoji_and_separators',
    task('task.completed', {
      taskId: 'task_esc',
      text: 'tab\tnewline\nquote"backslash\\ctrl\u0001\u001f del\u007f emoji😀 ls\u2028ps\u2029 lone\ud800 é',
    })
  ),
];

// The same event, as a Python sender would write it (15.0, ASCII escapes, spaces): the signature is
// over JSON.stringify, so only the re-serialisation matches.
const pyStyle =
  '{"event": "task.completed", "timestamp": ' +
  NOW +
  ', "data": {"taskId": "task_py", "status": "completed", "title": "\\u4ea7\\u54c1\\u89c6\\u9891", "duration": 15.0, "score": 1E2}}';
deliveries.push(
  delivery('python_style_reserialized', JSON.parse(pyStyle), { sent: pyStyle, signedOver: 'reserialized' })
);
deliveries.push(
  delivery('pretty_printed_reserialized', completed, {
    sent: JSON.stringify(completed, null, 2) + '\n',
    signedOver: 'reserialized',
  })
);
// Duplicate key: JSON.parse keeps the first position and the last value.
const dupSent = `{"event":"task.completed","timestamp":${NOW},"data":{"taskId":"task_dup","a":1,"b":2,"a":3}}`;
deliveries.push(delivery('duplicate_key_reserialized', JSON.parse(dupSent), { sent: dupSent, signedOver: 'reserialized' }));

// Header forms.
deliveries.push(
  delivery('uppercase_signature_with_spaces', completed, {
    headers: { 'X-Webhook-Signature': '  ' + sign(SECRET, JSON.stringify(completed)).toUpperCase() + ' ' },
  })
);
deliveries.push(delivery('milliseconds_timestamp', task('task.completed', { taskId: 'task_ms' }, NOW * 1000 + 123)));
deliveries.push(delivery('no_timestamp_header_uses_body', completed, { drop: ['X-Webhook-Timestamp'] }));
deliveries.push(delivery('within_tolerance_old', task('task.completed', { taskId: 'task_old' }, NOW - 299)));
deliveries.push(delivery('within_tolerance_future', task('task.completed', { taskId: 'task_fut' }, NOW + 299)));

// Failures.
const tamperedBody = JSON.stringify(completed).replace('"duration":15', '"duration":16');
deliveries.push(delivery('tampered_value', completed, { sent: tamperedBody, expect: 'signature' }));
deliveries.push(
  delivery('tampered_added_field', completed, {
    sent: JSON.stringify({ ...completed, extra: 1 }),
    expect: 'signature',
  })
);
deliveries.push(delivery('wrong_secret', completed, { signSecret: 'not_the_secret', expect: 'signature' }));
deliveries.push(delivery('missing_signature', completed, { drop: ['X-Webhook-Signature'], expect: 'signature' }));
deliveries.push(
  delivery('short_signature', completed, { headers: { 'X-Webhook-Signature': 'abc123' }, expect: 'signature' })
);
deliveries.push(
  delivery('non_hex_signature', completed, { headers: { 'X-Webhook-Signature': 'z'.repeat(64) }, expect: 'signature' })
);
deliveries.push(
  delivery('event_header_mismatch', completed, { headers: { 'X-Webhook-Event': 'task.failed' }, expect: 'signature' })
);
deliveries.push(delivery('stale_timestamp', task('task.completed', { taskId: 'task_s' }, NOW - 301), { expect: 'timestamp' }));
deliveries.push(delivery('future_timestamp', task('task.completed', { taskId: 'task_f' }, NOW + 301), { expect: 'timestamp' }));
deliveries.push(
  delivery('stale_milliseconds', task('task.completed', { taskId: 'task_sm' }, (NOW - 3600) * 1000), { expect: 'timestamp' })
);
// A fresh header does not rescue a stale signed body (the header is not signed).
deliveries.push(
  delivery('stale_body_fresh_header', task('task.completed', { taskId: 'task_r' }, NOW - 3600), {
    headers: { 'X-Webhook-Timestamp': String(NOW) },
    expect: 'timestamp',
  })
);
deliveries.push(
  delivery('stale_header', completed, { headers: { 'X-Webhook-Timestamp': String(NOW - 1000) }, expect: 'timestamp' })
);
const noTs = { event: 'task.completed', data: { taskId: 'task_nots' } };
deliveries.push(delivery('missing_timestamps', noTs, { drop: ['X-Webhook-Timestamp'], expect: 'timestamp' }));
// Not JSON: correctly signed -> a payload error (400); not signed -> a signature error (401).
for (const [name, text] of [
  ['not_json_text', 'event=task.completed'],
  ['not_json_truncated', JSON.stringify(completed).slice(0, -1)],
  ['json_array', '[1,2,3]'],
  ['json_nan', `{"event":"task.completed","timestamp":${NOW},"data":{"x":NaN}}`],
]) {
  deliveries.push({
    name: name + '_signed',
    secret: SECRET,
    now: NOW,
    body: text,
    headers: { 'X-Webhook-Signature': sign(SECRET, text), 'X-Webhook-Timestamp': String(NOW) },
    expect: 'payload',
  });
  deliveries.push({
    name: name + '_unsigned',
    secret: SECRET,
    now: NOW,
    body: text,
    headers: { 'X-Webhook-Signature': sign('other', text), 'X-Webhook-Timestamp': String(NOW) },
    expect: 'signature',
  });
}

// JSON.stringify(JSON.parse(text)) vectors.
const texts = [
  pyStyle,
  dupSent,
  '{"b":1,"2":2,"a":3,"1":4,"0":5,"00":6,"4294967294":7,"4294967295":8,"9007199254740993":9}',
  '[1.0, -0.0, 0.5e1, 1E21, 1e-6, 1e-7, 123e-20, 100, 1e300, 12345678901234567890]',
  '{"s":"\\u00e9\\ud83d\\ude00\\u2028\\u0000\\u001f\\u007f\\/\\ud800x\\udc00"}',
  ' { "nested" : { "deeper" : [ { "k" : "v" } , null , true ] } } ',
  '"just a string"',
  '1e400',
];
const stringify = texts.map((text) => ({ input: text, output: JSON.stringify(JSON.parse(text)) }));

// Numbers: doubles from a seeded PRNG over all bit patterns and over "human" decimals.
let seed = 0x2545f491;
function rand32() {
  seed ^= seed << 13;
  seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  seed >>>= 0;
  return seed;
}
const numbers = [];
const view = new DataView(new ArrayBuffer(8));
while (numbers.length < 300) {
  view.setUint32(0, rand32());
  view.setUint32(4, rand32());
  const x = view.getFloat64(0);
  if (Number.isFinite(x)) numbers.push(x);
}
for (let i = 0; i < 300; i++) {
  const exponent = (rand32() % 50) - 25;
  numbers.push(Number(((rand32() % 2000000) - 1000000) + 'e' + exponent));
  numbers.push((rand32() % 100000) / 100);
}
numbers.push(0.1, 0.2, 0.3, 1 / 3, 2 / 3, 100, 1e21, 1e20, 123456789e13, 1e-6, 1.5e-6, 1e-7, 2 ** 53, 2 ** 64);
const numberVectors = numbers.map((x) => ({ input: x.toPrecision(17), output: JSON.stringify(x) }));

process.stdout.write(
  JSON.stringify(
    {
      generator: 'scripts/generate_webhook_vectors.js',
      node: process.version,
      deliveries,
      stringify,
      numbers: numberVectors,
    },
    null,
    1
  ) + '\n'
);
