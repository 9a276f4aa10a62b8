'use strict';
// The Python that has vibetensor installed: for fabric.topology() (the topology lives in Python) and for
// finding the addon inside a Python install.
const fs = require('node:fs');
const path = require('node:path');
const config = require('./config');

const REPO = path.resolve(__dirname, '..', '..');

function pythonExecutable() {
  const explicit = config.read('VBT_NODE_PYTHON');
  if (explicit) return explicit;
  const venv = path.join(REPO, '.venv', 'bin', 'python');
  return fs.existsSync(venv) ? venv : 'python3';
}

module.exports = { REPO, pythonExecutable };
