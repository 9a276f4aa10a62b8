'use strict';
// Tensors: made from typed arrays (or nested JS arrays) by copying, read back as typed arrays (a Promise of
// a fresh copy), and given the op table's methods (x.add(y), x.sum({dim: 1})), which return Promises.
const { native } = require('./addon');
const { table, ops, camel } = require('./ops');

const { Tensor } = native;

const TYPED = {
  float32: Float32Array, float64: Float64Array, int32: Int32Array, int16: Int16Array, int8: Int8Array,
  uint8: Uint8Array, bool: Uint8Array, int64: BigInt64Array,
  float16: Float32Array, bfloat16: Float32Array, // no 16-bit float arrays in Node 20: built from float32
};
const ALIASES = { float: 'float32', double: 'float64', half: 'float16', long: 'int64', int: 'int32', short: 'int16' };

function shapeOf(data) {
  const shape = [];
  for (let x = data; Array.isArray(x); x = x[0]) shape.push(x.length);
  return shape;
}

function flatten(data, shape, depth, out, where) {
  if (depth === shape.length) {
    out.push(data);
    return;
  }
  if (!Array.isArray(data) || data.length !== shape[depth]) {
    throw new RangeError(`tensor(): ragged nested array at ${where}: expected ${shape[depth]} elements`);
  }
  data.forEach((x, i) => flatten(x, shape, depth + 1, out, `${where}[${i}]`));
}

// PyTorch's inference: all booleans -> bool, all integers -> int64, else the default float (float32).
function inferDtype(values) {
  if (values.length && values.every((v) => typeof v === 'boolean')) return 'bool';
  if (values.every((v) => typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v)))) {
    return values.length ? 'int64' : 'float32';
  }
  return 'float32';
}

function toTyped(values, dtype) {
  const Ctor = TYPED[ALIASES[dtype] || dtype];
  if (!Ctor) throw new TypeError(`tensor(): unknown dtype '${dtype}'`);
  // Floats into an integer dtype truncate toward zero, as torch.tensor([1.5], dtype=torch.int64) does.
  if (Ctor === BigInt64Array) return BigInt64Array.from(values, (v) => (typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v)))));
  return Ctor.from(values, Number);
}

/**
 * A new CPU tensor holding a copy of `data` (a typed array, a nested array of numbers/booleans/BigInts,
 * or one number). Copying runs inline: it is a memcpy, the data already live in JS memory.
 *   vt.tensor(new Float32Array([1, 2, 3, 4]), {shape: [2, 2]})
 *   vt.tensor([[1, 2], [3, 4]], {dtype: 'float64'})
 */
function tensor(data, options = {}) {
  const { shape, dtype, device } = options;
  if (device !== undefined && device !== null && device !== 'cpu') {
    throw new TypeError(`tensor(): tensors are made on the CPU; move it with \`await t.to('${device}')\``);
  }
  if (ArrayBuffer.isView(data) && !(data instanceof DataView)) {
    return native.fromTypedArray(data, shape ?? null, dtype ?? null);
  }
  const nested = Array.isArray(data) ? data : [data];
  const inferred = Array.isArray(data) ? shapeOf(data) : [];
  const values = [];
  flatten(nested, Array.isArray(data) ? inferred : [1], 0, values, 'data');
  const dt = dtype ?? inferDtype(values);
  return native.fromTypedArray(toTyped(values, dt), shape ?? inferred, dt);
}

function nest(flat, shape) {
  if (shape.length === 0) return flat[0];
  const step = shape.slice(1).reduce((a, b) => a * b, 1);
  return Array.from({ length: shape[0] }, (_, i) => nest(flat.subarray(i * step, (i + 1) * step), shape.slice(1)));
}

// ---- methods ------------------------------------------------------------------------------------------
const own = new Set(Object.getOwnPropertyNames(Tensor.prototype));
for (const op of table) {
  if (!op.method) continue;
  for (const name of new Set([op.base, camel(op.base)])) {
    if (own.has(name)) continue;
    own.add(name);
    const fn = ops[op.base];
    Object.defineProperty(Tensor.prototype, name, {
      value: function method(...args) { return fn(this, ...args); },
      writable: true, configurable: true,
    });
  }
}

Object.defineProperties(Tensor.prototype, {
  // t.to('cuda'), t.to('float64'), t.to({device: 'cuda:1', dtype: 'float16'}): a Promise of a copy.
  to: {
    value: function to(target) {
      const opts = typeof target === 'string'
        ? (TYPED[ALIASES[target] || target] ? { dtype: target } : { device: target })
        : { ...target };
      return ops._to_copy(this, opts);
    },
    writable: true, configurable: true,
  },
  // Nested JS arrays of the values (int64 as Numbers, bool as booleans): a Promise.
  toArray: {
    value: async function toArray() {
      const flat = await this.toTypedArray();
      const dtype = this.dtype;
      const values = dtype === 'int64' ? Float64Array.from(flat, Number) : flat;
      const out = nest(values, this.shape);
      if (dtype !== 'bool') return out;
      const toBool = (x) => (Array.isArray(x) ? x.map(toBool) : x !== 0);
      return toBool(out);
    },
    writable: true, configurable: true,
  },
  toString: {
    value: function toString() {
      return `Tensor(shape=[${this.shape.join(', ')}], dtype=${this.dtype}, device=${this.device})`;
    },
    writable: true, configurable: true,
  },
  [Symbol.for('nodejs.util.inspect.custom')]: {
    value: function inspect() { return this.toString(); },
    configurable: true,
  },
});

module.exports = { Tensor, tensor, TYPED };
