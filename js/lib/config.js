'use strict';
// Every environment variable the Node package reads, declared once: name, type, default, meaning.
// (The cap's name, VBT_NODE_MAX_INFLIGHT_OPS, comes from the issue that asked for it; the others follow it.)

const VARS = {
  VBT_NODE_MAX_INFLIGHT_OPS: {
    type: 'int', min: 1, default: 1024,
    doc: 'most heavy calls handed to the thread pool at once; further calls wait in a queue (never fail)',
  },
  VBT_NODE_INLINE_MAX_ELEMENTS: {
    type: 'int', min: 0, default: 65536,
    doc: 'CPU calls whose tensors hold at most this many elements in all run inline on the event loop',
  },
  VBT_NODE_ADDON: {
    type: 'path', default: null,
    doc: 'path of vibetensor.node (default: the repo build dir build/py, then the Python install)',
  },
  VBT_NODE_PYTHON: {
    type: 'path', default: null,
    doc: 'Python with vibetensor installed, for fabric.topology() (default: the repo .venv, then python3)',
  },
};

function read(name, env = process.env) {
  const spec = VARS[name];
  if (!spec) throw new Error(`vibetensor: ${name} is not a declared setting`);
  const raw = env[name];
  if (raw === undefined || raw === '') return spec.default;
  if (spec.type === 'path') return raw;
  const n = Number(raw.trim());
  if (!Number.isSafeInteger(n) || n < spec.min) {
    throw new RangeError(`vibetensor: ${name}=${JSON.stringify(raw)} must be an integer >= ${spec.min} (${spec.doc})`);
  }
  return n;
}

module.exports = { VARS, read };
