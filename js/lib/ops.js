'use strict';
// The core's ops by name, built from the op table the addon reports (csrc/dispatch/op_table.h):
//   await ops.add(a, b, {alpha: 2})   a Promise, always; small CPU calls run inline, the rest on the pool
//   opsSync.add(a, b)                 the value now; only for calls small enough to run inline
// Both spellings work: ops.log_softmax and ops.logSoftmax.
const { native } = require('./addon');

const table = native.opTable();
const baseNames = [...new Set(table.map((op) => op.base))].sort();

function isKwargs(x) {
  if (x === null || typeof x !== 'object' || Array.isArray(x) || ArrayBuffer.isView(x)) return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

// The last argument is keyword arguments when it is a plain object ({dim: 1}).
function split(args) {
  if (args.length && isKwargs(args[args.length - 1])) return [args.slice(0, -1), args[args.length - 1]];
  return [args, undefined];
}

function call(name, ...args) {
  const [pos, kw] = split(args);
  return native.callOp(name, pos, kw, false);
}

function callSync(name, ...args) {
  const [pos, kw] = split(args);
  return native.callOp(name, pos, kw, true);
}

const camel = (name) => name.replace(/([a-z0-9])_([a-z])/g, (_, a, b) => a + b.toUpperCase());

const ops = Object.create(null);
const opsSync = Object.create(null);
for (const name of baseNames) {
  const a = (...args) => call(name, ...args);
  const s = (...args) => callSync(name, ...args);
  Object.defineProperty(a, 'name', { value: name });
  Object.defineProperty(s, 'name', { value: name });
  ops[name] = a;
  opsSync[name] = s;
  const c = camel(name);
  if (c !== name) { ops[c] = a; opsSync[c] = s; }
}
Object.freeze(ops);
Object.freeze(opsSync);

module.exports = { table, baseNames, ops, opsSync, call, callSync, camel, isKwargs };
