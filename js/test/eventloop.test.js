'use strict';
// The event loop stays responsive during a long op: a timer keeps firing while a big matmul runs on the
// pool; the same kind of op forced inline starves the timer (so the measure can see a blocked loop).
const test = require('node:test');
const assert = require('node:assert/strict');
const vt = require('..');

async function timerDuring(work, periodMs = 5) {
  const ticks = [];
  const timer = setInterval(() => ticks.push(performance.now()), periodMs);
  const t0 = performance.now();
  const result = await work();
  const elapsed = performance.now() - t0;
  clearInterval(timer);
  let maxGap = 0;
  for (let i = 1; i < ticks.length; i++) maxGap = Math.max(maxGap, ticks[i] - ticks[i - 1]);
  if (ticks.length) maxGap = Math.max(maxGap, ticks[0] - t0);
  return { result, elapsed, ticks: ticks.length, maxGap };
}

test('a timer keeps firing while a big matmul runs', async () => {
  // The matmul must outlast several timer periods: grow n until it takes over 30 ms (1536 does on two cores;
  // a 64-core machine runs it in ~6 ms).
  vt.manualSeed(1234);
  let n = 1536, a, b, c, elapsed, ticks, maxGap;
  for (;;) {
    a = await vt.randn([n, n]);
    b = await vt.randn([n, n]);
    ({ result: c, elapsed, ticks, maxGap } = await timerDuring(() => vt.ops.matmul(a, b)));
    if (elapsed > 30 || n >= 8192) break;
    n = Math.min(8192, Math.ceil(n * Math.cbrt(60 / Math.max(elapsed, 1)) / 64) * 64);
  }
  assert.ok(elapsed > 30, `the matmul took ${elapsed.toFixed(1)} ms at n = ${n}: too short to show anything`);
  assert.ok(ticks >= elapsed / 5 / 4, `only ${ticks} ticks of 5 ms in ${elapsed.toFixed(0)} ms`);
  assert.ok(maxGap < 250, `the event loop stalled for ${maxGap.toFixed(0)} ms`);
  // Spot-check the product against float64 dot products in JS.
  const [av, bv, cv] = await Promise.all([a.toTypedArray(), b.toTypedArray(), c.toTypedArray()]);
  for (const [i, j] of [[0, 0], [17, 1200], [n - 1, n - 1], [777, 3]]) {
    let s = 0;
    for (let k = 0; k < n; k++) s += av[i * n + k] * bv[k * n + j];
    assert.ok(Math.abs(cv[i * n + j] - s) < 1e-3 * Math.sqrt(n), `c[${i}][${j}] = ${cv[i * n + j]}, expected ${s}`);
  }
});

test('the same op inline blocks the timer (the measure detects a stalled loop)', async () => {
  const n = 768;
  const a = await vt.randn([n, n]);
  vt.configure({ inlineMaxElements: Number.MAX_SAFE_INTEGER });
  try {
    const { elapsed, ticks } = await timerDuring(() => vt.ops.matmul(a, a));
    assert.equal(ticks, 0, `${ticks} ticks during an inline op of ${elapsed.toFixed(1)} ms`);
  } finally {
    vt.configure({ inlineMaxElements: require('../lib/config').read('VBT_NODE_INLINE_MAX_ELEMENTS') });
  }
});
