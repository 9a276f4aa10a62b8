'use strict';
// vt.cuda: without a GPU, one clear error and no crash; with one, streams, events and copies.
const test = require('node:test');
const assert = require('node:assert/strict');
const vt = require('..');

const hasGpu = vt.cuda.isAvailable();

test('without a GPU, CUDA calls fail clearly', { skip: hasGpu && 'a GPU is present' }, async () => {
  assert.equal(vt.cuda.deviceCount(), 0);
  assert.ok(vt.cuda.whyUnavailable().length > 0);
  assert.deepEqual(vt.devices(), ['cpu']);
  assert.throws(() => vt.cuda.streamFromPool(), /CUDA/);
  assert.throws(() => vt.cuda.currentDevice(), /CUDA/);
  await assert.rejects(vt.cuda.synchronize(), /CUDA/);
  await assert.rejects(vt.zeros([2], { device: 'cuda' }), /CUDA/);
  await assert.rejects(vt.tensor([1, 2]).to('cuda'), /CUDA/);
  const e = new vt.cuda.Event();
  assert.equal(e.recorded, false);
  assert.throws(() => e.record(), /CUDA/);
});

test('streams, events and copies on the GPU', { skip: !hasGpu && 'no GPU' }, async () => {
  assert.ok(vt.cuda.deviceCount() >= 1);
  assert.equal(typeof vt.cuda.deviceProperties(0).name, 'string');
  const s = vt.cuda.streamFromPool();
  assert.equal(typeof s.id, 'bigint');
  const prev = vt.cuda.currentStream();
  vt.cuda.setCurrentStream(s);
  try {
    assert.ok(vt.cuda.currentStream().equals(s));
    const start = new vt.cuda.Event({ enableTiming: true }).record();
    const x = vt.tensor(Float32Array.from([1, 2, 3, 4]), { shape: [2, 2] });
    const g = await x.to('cuda');
    assert.equal(g.device, 'cuda:0');
    const end = new vt.cuda.Event({ enableTiming: true }).record();
    await end.synchronize();
    assert.ok(end.query());
    assert.ok(start.elapsedTime(end) >= 0);
    assert.deepEqual(Array.from(await g.toTypedArray()), [1, 2, 3, 4]);
    await s.synchronize();
    assert.ok(s.query());
  } finally {
    vt.cuda.setCurrentStream(prev);
  }
  await vt.cuda.synchronize();
});
