'use strict';
// Bad input: the core's own messages, as rejected Promises (async calls, inline or on the pool) or thrown
// errors (sync calls), with the same text Python raises for the same call; the process keeps working.
const test = require('node:test');
const assert = require('node:assert/strict');
const vt = require('..');
const { pythonReference } = require('./helpers/reference');

const x23 = vt.tensor(Float32Array.from([1, 2, 3, 4, 5, 6]), { shape: [2, 3] });
const x4 = vt.tensor(Float32Array.from([1, -2, 3, -4]));
const big = vt.tensor(new Float32Array(300 * 300).fill(0.5), { shape: [300, 300] });
const bigOther = vt.tensor(new Float32Array(299 * 300).fill(0.25), { shape: [299, 300] });
const outOfRange = vt.tensor(BigInt64Array.from([0n, 5n]));

// The Python exception each JS error stands for: class and .code.
const KINDS = {
  ValueError: [Error, 'ERR_VIBETENSOR_VALUE'], TypeError: [TypeError, 'ERR_VIBETENSOR_TYPE'],
  IndexError: [RangeError, 'ERR_VIBETENSOR_INDEX'], RuntimeError: [Error, 'ERR_VIBETENSOR'],
};

const BAD = [
  ['add', [x23, x4], {}, 'broadcast shapes'],
  ['add', [big, bigOther], {}, 'broadcast shapes, on the thread pool'],
  ['mm', [x23, x23], {}, 'matrix shapes'],
  ['reshape', [x23, [4, 2]], {}, 'reshape size'],
  ['bitwise_and', [x4, x4], {}, 'dtype'],
  ['index_select', [x4, 0, outOfRange], {}, 'index out of range'],
  ['sum', [x23], { dim: 5 }, 'dim out of range'],
  ['cat', [[x23, x4]], {}, 'cat of different ranks'],
];

test('core errors reject with the message Python raises', async () => {
  const ref = await pythonReference(BAD.map(([op, args, kwargs]) => ({ op, args, kwargs })));
  for (let i = 0; i < BAD.length; i++) {
    const [op, args, kwargs, what] = BAD[i];
    const py = ref[i].error;
    assert.ok(py, `${what}: Python did not raise`);
    const [Cls, code] = KINDS[py.type];
    const p = vt.ops[op](...args, kwargs);
    assert.ok(p instanceof Promise, `${what}: an async call returns a Promise, even when it fails`);
    await assert.rejects(p, (e) => {
      assert.ok(e instanceof Cls, `${what}: ${e.constructor.name} for Python's ${py.type}`);
      assert.equal(e.code, code, what);
      assert.equal(e.message, py.message, what);
      return true;
    });
  }
});

test('bad arguments reject with a message naming the argument', async () => {
  await assert.rejects(vt.ops.add(x4, 'two'), {
    name: 'TypeError', message: "add(): argument 'other' (position 2) must be Tensor, not string",
  });
  await assert.rejects(vt.ops.sum(x4, { dims: 0 }), { message: "sum() got an unexpected keyword argument 'dims'" });
  await assert.rejects(vt.ops.zeros([2], { dtype: 'float128' }), /argument 'dtype' must be ScalarType\?, not string/);
  await assert.rejects(vt.call('no_such_op', x4), { name: 'TypeError', message: /unknown op 'no_such_op'/ });
  await assert.rejects(vt.ops.max(x4, 'x'), /max\(\) received an invalid combination of arguments/);
  await assert.rejects(vt.tensor([1.5]).item().then(() => vt.ops.add()), /missing required argument 'self'/);
});

test('sync calls throw, and refuse work too big for the event loop', () => {
  assert.throws(() => vt.opsSync.add(x23, x4), { code: 'ERR_VIBETENSOR_VALUE', message: /must match the size of tensor b/ });
  assert.throws(() => vt.opsSync.exp(big), {
    message: 'opsSync.exp(): 90000 elements is above the inline limit of 65536 elements ' +
      '(VBT_NODE_INLINE_MAX_ELEMENTS); use `await ops.exp(...)`',
  });
  assert.throws(() => vt.opsSync.arange(5), /a factory without a size/);
});

test('making tensors: clear errors', async () => {
  assert.throws(() => vt.tensor(new Float32Array(5), { shape: [2, 3] }),
    { message: 'tensor(): shape [2, 3] holds 6 elements but the array has 5' });
  assert.throws(() => vt.tensor(new Uint16Array(2)), { name: 'TypeError', message: /Uint16Array has no matching dtype/ });
  assert.throws(() => vt.tensor([[1, 2], [3]]), /ragged nested array at data\[1\]/);
  assert.throws(() => new vt.Tensor(), /cannot be constructed directly/);
  assert.throws(() => vt.tensor([1], { device: 'cuda' }), /await t.to\('cuda'\)/);
  await assert.rejects(x4.item(), { message: /4 elements cannot be converted to a number/ });
});

test('the addon keeps working after errors', async () => {
  await assert.rejects(vt.ops.add(big, bigOther));
  const s = await vt.ops.sum(big);
  assert.equal(await s.item(), 300 * 300 * 0.5);
});
