'use strict';
// Ops by name from JS against the Python API on the same inputs: the same values, dtypes and shapes,
// through both the inline path (small tensors) and the thread pool (large ones), one call at a time and
// all at once.
const test = require('node:test');
const assert = require('node:assert/strict');
const vt = require('..');
const { rng, freshSeed, pythonReference, assertMatches } = require('./helpers/reference');

const seed = freshSeed();
const r = rng(seed);
const numel = (shape) => shape.reduce((a, b) => a * b, 1);
const floats = (Ctor, shape, lo = -2, hi = 2) =>
  vt.tensor(Ctor.from({ length: numel(shape) }, () => lo + (hi - lo) * r()), { shape });
const f32 = (shape, lo, hi) => floats(Float32Array, shape, lo, hi);
const f64 = (shape, lo, hi) => floats(Float64Array, shape, lo, hi);
const ints = (Ctor, shape, lo, hi) => vt.tensor(Ctor.from({ length: numel(shape) }, () => {
  const v = lo + Math.floor(r() * (hi - lo));
  return Ctor === BigInt64Array ? BigInt(v) : v;
}), { shape });

const a = f32([3, 4]), b = f32([3, 4]), c = f32([4]), pos = f32([3, 4], 0.1, 3);
const big = f32([300, 300]), big2 = f32([300, 300]); // 90,000 elements each: over the inline limit
const m1 = f32([40, 50]), m2 = f32([50, 30]), bm1 = f32([2, 5, 6]), bm2 = f32([2, 6, 3]);
const d = f64([5, 3]);
const ia = ints(Int32Array, [3, 4], -50, 50), ib = ints(Int32Array, [3, 4], 1, 20);
const la = ints(BigInt64Array, [6], -100, 100);
const idx = ints(BigInt64Array, [5], 0, 3), gidx = ints(BigInt64Array, [3, 4], 0, 4);
const mask = vt.tensor(Uint8Array.from({ length: 12 }, () => (r() < 0.5 ? 1 : 0)), { shape: [3, 4], dtype: 'bool' });

const CASES = [
  ['add', [a, b]], ['add', [a, c], { alpha: 2 }], ['sub', [a, 2.5]], ['mul', [ia, 3]], ['mul', [ia, 0.5]],
  ['div', [a, pos]], ['div', [ia, ib], { rounding_mode: 'floor' }], ['pow', [pos, 2.5]], ['maximum', [a, b]],
  ['floor_divide', [ia, ib]], ['remainder', [ia, ib]], ['bitwise_and', [ia, ib]], ['eq', [ia, ib]],
  ['lt', [a, b]], ['where', [mask, a, b]], ['where', [mask, a, 0]], ['clamp', [a], { min: -0.5, max: 0.5 }],
  ['exp', [a]], ['log', [pos]], ['tanh', [big]], ['sigmoid', [d]], ['sqrt', [pos]], ['abs', [ia]], ['neg', [la]],
  ['sum', [a]], ['sum', [a], { dim: 1, keepdim: true }], ['sum', [ia]], ['mean', [d], { dim: 0 }],
  ['max', [a]], ['max', [a, 1]], ['max', [a, b]], ['argmax', [a], { dim: 1 }], ['var', [a], { dim: 1, correction: 0 }],
  ['std', [d]], ['norm', [a]], ['logsumexp', [a, 1]], ['cumsum', [a, 1]], ['softmax', [a, 1]], ['log_softmax', [big, 0]],
  ['matmul', [m1, m2]], ['mm', [big, big2]], ['bmm', [bm1, bm2]], ['dot', [c, c]], ['outer', [c, c]],
  ['transpose', [a, 0, 1]], ['reshape', [a, [2, 6]]], ['view', [a, 6, 2]], ['permute', [bm1, [2, 0, 1]]],
  ['flatten', [bm1]], ['cat', [[a, b], 1]], ['stack', [[a, b]]], ['flip', [a, [0]]], ['tril', [a]], ['roll', [a, 1, 1]],
  ['index_select', [a, 0, idx]], ['gather', [a, 1, gidx]], ['masked_select', [a, mask]], ['nonzero', [mask]],
  ['sort', [a, 1]], ['topk', [a, 2]], ['argsort', [a], { descending: true }], ['unbind', [a, 0]], ['chunk', [a, 2, 1]],
  ['split', [a, [1, 3], 1]], ['one_hot', [idx, 4]], ['embedding', [d, idx]],
  ['_to_copy', [a], { dtype: 'float16' }], ['_to_copy', [ia], { dtype: 'float64' }],
  ['zeros', [[2, 3]]], ['ones', [2, 3], { dtype: 'int32' }], ['full', [[2, 2], 1.5]], ['full', [[3], 7]],
  ['arange', [5]], ['arange', [1, 2, 0.25]], ['linspace', [0, 1, 5]], ['eye', [3]],
];
const RANDOM = [
  ['randn', [[3, 4]]], ['rand', [[5]]], ['randint', [0, 10, [6]]], ['randperm', [8]], ['randn', [[400, 400]]],
].map(([op, args], i) => ({ op, args, kwargs: {}, seed: seed + i }));

const calls = CASES.map(([op, args, kwargs = {}]) => ({ op, args, kwargs }));
const expected = pythonReference([...calls, ...RANDOM]);

test(`ops match the Python API one call at a time (input seed ${seed})`, async () => {
  const ref = await expected;
  for (let i = 0; i < calls.length; i++) {
    const { op, args, kwargs } = calls[i];
    const got = await vt.call(op, ...args, kwargs);
    await assertMatches(got, ref[i], `${op}(#${i})`);
  }
});

test('ops issued all at once give the same results', async () => {
  const ref = await expected;
  const got = await Promise.all(calls.map(({ op, args, kwargs }) => vt.ops[op](...args, kwargs)));
  for (let i = 0; i < calls.length; i++) await assertMatches(got[i], ref[i], `${calls[i].op}(#${i}) concurrent`);
});

test('seeded random ops draw what Python draws', async () => {
  const ref = (await expected).slice(calls.length);
  for (let i = 0; i < RANDOM.length; i++) {
    vt.manualSeed(RANDOM[i].seed);
    await assertMatches(await vt.call(RANDOM[i].op, ...RANDOM[i].args), ref[i], `${RANDOM[i].op} seed ${RANDOM[i].seed}`);
  }
});

test('random ops issued together keep their order', async () => {
  vt.manualSeed(seed);
  const one = [await vt.randn([300, 300]), await vt.randn([10]), await vt.randn([300, 300])];
  vt.manualSeed(seed);
  const all = await Promise.all([vt.randn([300, 300]), vt.randn([10]), vt.randn([300, 300])]);
  for (let i = 0; i < 3; i++) assert.deepEqual(await all[i].toTypedArray(), await one[i].toTypedArray());
  const pending = vt.randn([300, 300]);
  assert.throws(() => vt.opsSync.randn([2]), /random ops issued earlier are still running/);
  await pending;
  assert.deepEqual(vt.opsSync.randn([2]).shape, [2]);
});

test('several results carry their schema names; in-place ops return their tensor', async () => {
  const res = await vt.ops.max(a, 1);
  assert.equal(res.length, 2);
  assert.equal(res.values, res[0]);
  assert.equal(res.indices.dtype, 'int64');
  const x = await vt.ops.clone(a);
  const before = x._version;
  const y = await x.add_(1);
  assert.equal(y, x);
  assert.equal(x._version, before + 1);
  const [xa, aa] = [await x.toTypedArray(), await a.toTypedArray()];
  xa.forEach((v, i) => assert.ok(Math.abs(v - (aa[i] + 1)) < 1e-6));
});

test('methods, camelCase names and the sync namespace', async () => {
  const s = await a.logSoftmax(1);
  const t = vt.opsSync.log_softmax(a, 1);
  assert.deepEqual(await s.toTypedArray(), await t.toTypedArray());
  assert.deepEqual(vt.opsSync.reshape(a, [-1]).shape, [12]);
  const floorDiv = await vt.ops.div(ia, ib, { roundingMode: 'floor' });
  assert.deepEqual(await floorDiv.toArray(), await vt.opsSync.div(ia, ib, { rounding_mode: 'floor' }).toArray());
  assert.deepEqual(await vt.tensor([1.5, -2.7], { dtype: 'int64' }).toArray(), [1, -2]);
  assert.deepEqual(await (await a.sum({ dim: 0 })).toArray(), await (await vt.ops.sum(a, 0)).toArray());
});

test('tensors from nested arrays and back', async () => {
  const t = vt.tensor([[1, 2], [3, 4]]);
  assert.equal(t.dtype, 'int64');
  assert.deepEqual(await t.toArray(), [[1, 2], [3, 4]]);
  assert.equal(vt.tensor([0.5, 1]).dtype, 'float32');
  assert.deepEqual(await vt.tensor([true, false]).toArray(), [true, false]);
  const h = vt.tensor([1.5, -2], { dtype: 'bfloat16' });
  assert.deepEqual(Array.from(await h.toTypedArray()), [1.5, -2]);
  assert.equal(await vt.tensor(3.25).item(), 3.25);
  const copy = await a.toTypedArray();
  copy[0] = 1e9; // a copy: the tensor is unchanged
  assert.notEqual((await a.toTypedArray())[0], 1e9);
});
