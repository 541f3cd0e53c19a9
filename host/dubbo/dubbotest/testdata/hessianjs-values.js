// Encodes a spread of values with hessian.js (v2 encoder) and prints them as a JSON array of hex strings, one
// per value, each encoded by a fresh encoder. Usage: NODE_PATH=... node hessianjs-values.js
'use strict';
const hessian = require('hessian.js');
const java = require('js-to-java');

const user = (name) => ({ $class: 'org.example.User', $: { name: java.String(name), age: java.int(30), tags: java.List(['a', 'b']) } });
const shared = { $class: 'org.example.Point', $: { x: java.int(1), y: java.int(2) } };
const values = [
  null, true, false, 0, -16, 47, 48, -2048, 2047, 262143, 2147483647, -2147483648,
  java.long(0), java.long(-8), java.long(15), java.long(2047), java.long(262143), java.long('9223372036854775807'),
  1.5, 0.0, 1.0, 127.0, 32767.0, 3.14159, -1e300, java.double(12),
  new Date(1700000000000), new Date(1700000040000),
  '', 'a', 'x'.repeat(31), 'x'.repeat(32), 'y'.repeat(1024), 'z'.repeat(70000), 'héllo 日本 😀',
  Buffer.alloc(0), Buffer.from([1, 2, 3]), Buffer.alloc(1024, 7), Buffer.alloc(70000, 9),
  [1, 'two', 3.5, null], java.List(['a', 'b']), java.array('int', [1, 2, 3]), java.array('java.lang.String', ['p', 'q']),
  { a: 1, b: 'c' }, java.Map({ k: 'v' }), { $class: 'java.util.HashMap', $: { path: 'svc', timeout: 3000 } },
  user('alice'), [user('bob'), user('carol')], [shared, shared, shared],
  { $class: 'java.util.ArrayList', $: [user('dave'), { $class: 'java.util.HashMap', $: { nested: [1, [2, [3]]] } }] },
];
const out = values.map((v) => {
  const e = new hessian.EncoderV2();
  e.write(v);
  return e.get().toString('hex');
});
console.log(JSON.stringify(out));
