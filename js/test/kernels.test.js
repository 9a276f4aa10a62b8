'use strict';
// CUDA ops from Node compile the Triton kernels they lack through Python (csrc/node/kernel_compiler.cpp):
// the compiler's protocol runs without a GPU; the ops themselves where one is present.
const test = require('node:test');
const assert = require('node:assert/strict');
const vt = require('..');
const { native } = require('../lib/addon');

test('the kernel compiler builds a cubin for sm_90 without a GPU, and reports a bad key', async () => {
  const k = await native._compileKernel('fab|barrier|4', 90);
  assert.equal(k.name, 'barrier');
  assert.equal(k.numWarps, 1);
  assert.ok(k.cubinBytes > 1000, `a ${k.cubinBytes}-byte cubin`);
  await assert.rejects(native._compileKernel('nokernel|1', 90), /compiling GPU kernel 'nokernel\|1' .*no kernel generator/);
  await assert.rejects(native._compileKernel('fab|barrier|4', 0), /architecture/);
});

test('CUDA ops from Node match the CPU', { skip: !vt.cuda.isAvailable() && 'no GPU' }, async () => {
  vt.manualSeed(7);
  const a = await vt.randn([64, 48]);
  const b = await vt.randn([48, 32]);
  const [ga, gb] = await Promise.all([a.to('cuda'), b.to('cuda')]);
  const cases = [
    [await vt.ops.add(a, a), await vt.ops.add(ga, ga)],
    [await vt.ops.exp(a), await vt.ops.exp(ga)],
    [await vt.ops.sum(a), await vt.ops.sum(ga)],
    [await vt.ops.matmul(a, b), await vt.ops.matmul(ga, gb)],
  ];
  for (const [cpu, gpu] of cases) {
    assert.equal(gpu.device, 'cuda:0');
    const [x, y] = await Promise.all([cpu.toTypedArray(), gpu.toTypedArray()]);
    assert.equal(x.length, y.length);
    for (let i = 0; i < x.length; i++) {
      assert.ok(Math.abs(x[i] - y[i]) <= 1e-3 * (1 + Math.abs(x[i])), `element ${i}: ${y[i]} on the GPU, ${x[i]} on the CPU`);
    }
  }
});
