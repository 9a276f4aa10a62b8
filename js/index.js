'use strict';
// vibetensor for Node.js: the native core (dispatcher, CPU and CUDA tensors) through a Node-API addon.
//
//   const vt = require('vibetensor');           // or require('<repo>/js')
//   const a = vt.tensor([[1, 2], [3, 4]], {dtype: 'float32'});
//   const b = await vt.ops.matmul(a, a);        // every op returns a Promise
//   console.log(await b.toArray());             // [[7, 10], [15, 22]]
const config = require('./lib/config');
const { native, addonPath } = require('./lib/addon');
const { ops, opsSync, baseNames, call } = require('./lib/ops');
const { Tensor, tensor } = require('./lib/tensor');
const fabric = require('./lib/fabric');
const { pythonExecutable } = require('./lib/python');

native.configure({
  maxInflight: config.read('VBT_NODE_MAX_INFLIGHT_OPS'),
  inlineMaxElements: config.read('VBT_NODE_INLINE_MAX_ELEMENTS'),
});
// CUDA ops compile the Triton kernels they lack with this Python (csrc/node/kernel_compiler.cpp).
native._setKernelCompiler(pythonExecutable());

const DTYPES = ['bool', 'uint8', 'int8', 'int16', 'int32', 'int64', 'float16', 'bfloat16', 'float32', 'float64'];
const dtypes = Object.freeze(Object.fromEntries(DTYPES.map((d) => [d, d])));

const factory = (name) => (...args) => ops[name](...args);

module.exports = {
  Tensor,
  tensor,
  ops,
  opsSync,
  /** call('add', a, b): an op by a name known only at run time (same as ops[name]). */
  call,
  opNames: () => baseNames.slice(),
  opTable: () => native.opTable(),
  // factories: a Promise of a tensor; sizes as an array or as separate ints, options last
  zeros: factory('zeros'),
  ones: factory('ones'),
  full: factory('full'),
  empty: factory('empty'),
  arange: factory('arange'),
  linspace: factory('linspace'),
  eye: factory('eye'),
  rand: factory('rand'),
  randn: factory('randn'),
  randint: factory('randint'),
  randperm: factory('randperm'),
  manualSeed: (seed) => native.manualSeed(seed),
  initialSeed: () => native.initialSeed(),
  dtypes,
  ...dtypes,
  devices: () => ['cpu', ...Array.from({ length: native.cuda.deviceCount() }, (_, i) => `cuda:${i}`)],
  cuda: native.cuda,
  fabric,
  /** {current, peak, queued, max, completed, inlineMaxElements}: heavy calls in flight on the pool. */
  inflight: () => native.inflight(),
  resetPeakInflight: () => native.resetPeakInflight(),
  /** configure({maxInflight, inlineMaxElements}): change the cap or the inline threshold at run time. */
  configure: (opts) => native.configure(opts),
  addonPath,
  settings: config.VARS,
};
