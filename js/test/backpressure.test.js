'use strict';
// The cap on in-flight work: 10,000 calls at once all complete, never more than the cap on the thread
// pool, the rest queued; the peak reaches the cap; VBT_NODE_MAX_INFLIGHT_OPS sets it.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');
const vt = require('..');
const config = require('../lib/config');

test('10,000 concurrent calls: the cap holds, all complete, peak == cap', async () => {
  const cap = config.read('VBT_NODE_MAX_INFLIGHT_OPS');
  assert.equal(vt.inflight().max, cap);
  vt.configure({ inlineMaxElements: 0 }); // every call to the pool, so only the cap limits them
  vt.resetPeakInflight();
  const x = vt.tensor(Float32Array.from({ length: 64 }, (_, i) => i));
  const N = 10000;
  const pending = [];
  for (let i = 0; i < N; i++) pending.push(vt.ops.add(x, i));
  const issued = vt.inflight();
  assert.equal(issued.current, cap);
  assert.equal(issued.queued, N - cap);
  let over = 0;
  let samples = 0;
  const watch = setInterval(() => {
    const s = vt.inflight();
    samples++;
    if (s.current > cap) over++;
  }, 1);
  const results = await Promise.all(pending);
  clearInterval(watch);
  vt.configure({ inlineMaxElements: config.read('VBT_NODE_INLINE_MAX_ELEMENTS') });
  const done = vt.inflight();
  assert.equal(over, 0, `the cap was exceeded in ${over} of ${samples} samples`);
  assert.equal(done.current, 0);
  assert.equal(done.queued, 0);
  assert.equal(done.peak, cap);
  assert.equal(results.length, N);
  for (let i = 0; i < N; i += 997) {
    const v = await results[i].toTypedArray();
    assert.equal(v[0], i);
    assert.equal(v[63], 63 + i);
  }
});

test('VBT_NODE_MAX_INFLIGHT_OPS sets the cap', () => {
  const script = `
    const vt = require(${JSON.stringify(path.join(__dirname, '..'))});
    const x = vt.tensor(new Float32Array(16).fill(1));
    const all = Array.from({length: 500}, () => vt.ops.mul(x, 2));
    const issued = vt.inflight();
    Promise.all(all).then(() => console.log(JSON.stringify({issued, done: vt.inflight()})));`;
  const env = { ...process.env, VBT_NODE_MAX_INFLIGHT_OPS: '8', VBT_NODE_INLINE_MAX_ELEMENTS: '0' };
  const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { env, encoding: 'utf8' }));
  assert.deepEqual([out.issued.max, out.issued.current, out.issued.queued], [8, 8, 492]);
  assert.deepEqual([out.done.current, out.done.queued, out.done.peak], [0, 0, 8]);
  assert.ok(out.done.completed >= 500);
});

test('a bad VBT_NODE_MAX_INFLIGHT_OPS fails loudly', () => {
  const env = { ...process.env, VBT_NODE_MAX_INFLIGHT_OPS: '0' };
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(path.join(__dirname, '..'))})`],
    { env, encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /VBT_NODE_MAX_INFLIGHT_OPS="0" must be an integer >= 1/);
});

test('raising the cap at run time starts queued work', async () => {
  vt.configure({ maxInflight: 2, inlineMaxElements: 0 });
  const x = vt.tensor(new Float32Array(8).fill(3));
  const all = Array.from({ length: 50 }, () => vt.ops.neg(x));
  assert.equal(vt.inflight().current, 2);
  vt.configure({ maxInflight: 40 });
  assert.equal(vt.inflight().current, 40);
  const res = await Promise.all(all);
  assert.equal((await res[49].toTypedArray())[0], -3);
  vt.configure({ maxInflight: config.read('VBT_NODE_MAX_INFLIGHT_OPS'),
    inlineMaxElements: config.read('VBT_NODE_INLINE_MAX_ELEMENTS') });
  assert.throws(() => vt.configure({ maxInflight: 0 }), /at least 1/);
});
