'use strict';
// The Python side of the parity tests: the same calls, on the same input bytes, through vibetensor's
// Python API (reference.py, one Python process per batch), plus tolerances and a seeded input generator.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const path = require('node:path');
const { execFile } = require('node:child_process');
const vt = require('../..');
const { pythonExecutable } = require('../../lib/python');

const SCRIPT = path.join(__dirname, 'reference.py');

// Per-dtype tolerances (rtol, atol): both sides run the same kernels, so results should agree to rounding.
const TOLERANCE = {
  float16: [1e-3, 1e-3], bfloat16: [1e-2, 1e-2], float32: [1e-5, 1e-6], float64: [1e-12, 1e-12],
};

// mulberry32: fresh inputs each run, reproducible from the printed seed.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const freshSeed = () => crypto.randomInt(2 ** 31);

async function encodeTensor(t) {
  const data = await t.toTypedArray();
  return { dtype: t.dtype, shape: t.shape, b64: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64') };
}

// calls: [{op, args, kwargs, seed}] with vt.Tensors among the args. Resolves to one result per call.
async function pythonReference(calls) {
  const tensors = [];
  const index = new Map();
  const enc = (v) => {
    if (v instanceof vt.Tensor) {
      if (!index.has(v)) { index.set(v, tensors.length); tensors.push(v); }
      return { $t: index.get(v) };
    }
    if (Array.isArray(v)) return v.map(enc);
    return v;
  };
  const spec = {
    calls: calls.map((c) => ({
      op: c.op, args: c.args.map(enc), seed: c.seed ?? null,
      kwargs: Object.fromEntries(Object.entries(c.kwargs || {}).map(([k, v]) => [k, enc(v)])),
    })),
  };
  spec.tensors = await Promise.all(tensors.map(encodeTensor));
  const out = await new Promise((resolve, reject) => {
    const child = execFile(pythonExecutable(), [SCRIPT], { maxBuffer: 256 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`reference.py failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
    child.stdin.end(JSON.stringify(spec));
  });
  return JSON.parse(out).results;
}

function decode(ref) {
  const buf = Buffer.from(ref.b64, 'base64');
  const Ctor = vt.dtypes[ref.dtype] && require('../../lib/tensor').TYPED[ref.dtype];
  const bytes = new Uint8Array(buf.length);
  bytes.set(buf);
  return new Ctor(bytes.buffer, 0, buf.length / Ctor.BYTES_PER_ELEMENT);
}

// Asserts that a JS result (tensor, array of them, or number) matches Python's.
async function assertMatches(actual, expected, what) {
  if (expected && expected.error) assert.fail(`${what}: Python raised ${expected.error.type}: ${expected.error.message}`);
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${what}: expected ${expected.length} results`);
    assert.equal(actual.length, expected.length, `${what}: number of results`);
    for (let i = 0; i < expected.length; i++) await assertMatches(actual[i], expected[i], `${what}[${i}]`);
    return;
  }
  if (!(expected && expected.$t)) {
    assert.ok(Math.abs(actual - expected) <= 1e-6 * Math.max(1, Math.abs(expected)), `${what}: ${actual} vs ${expected}`);
    return;
  }
  const ref = expected.$t;
  assert.ok(actual instanceof vt.Tensor, `${what}: expected a Tensor, got ${actual}`);
  assert.equal(actual.dtype, ref.dtype, `${what}: dtype`);
  assert.deepEqual(actual.shape, ref.shape, `${what}: shape`);
  const got = await actual.toTypedArray();
  const want = decode(ref);
  assert.equal(got.length, want.length, `${what}: number of elements`);
  const tol = TOLERANCE[ref.dtype];
  for (let i = 0; i < want.length; i++) {
    const a = got[i], b = want[i];
    if (!tol) {
      if (a !== b) assert.fail(`${what}: element ${i} is ${a}, Python gives ${b}`);
    } else if (Number.isNaN(b)) {
      if (!Number.isNaN(a)) assert.fail(`${what}: element ${i} is ${a}, Python gives NaN`);
    } else if (!(Math.abs(a - b) <= tol[1] + tol[0] * Math.abs(b)) && a !== b) {
      assert.fail(`${what}: element ${i} is ${a}, Python gives ${b}`);
    }
  }
}

module.exports = { rng, freshSeed, pythonReference, assertMatches, TOLERANCE };
