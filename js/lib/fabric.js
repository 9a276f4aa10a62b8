'use strict';
// vt.fabric from Node: the topology graph. The topology is built in Python (fabric/topology: CUDA, NVML
// and sysfs discovery, fixtures, `nvidia-smi topo -m` parsing), so rather than a second implementation
// that could drift, topology() runs the same CLI, `python -m vibetensor.fabric.topology --json`, and parses
// its output: by construction the same graph as `vibetensor-topo --json`.
const { execFile } = require('node:child_process');
const { pythonExecutable } = require('./python');

/**
 * The machine's topology as vibetensor-topo's JSON ({format, version, graph, nodes, edges}).
 * options.from: describe a machine from a file instead (the package's JSON or `nvidia-smi topo -m` text).
 * options.python: the Python to run (default: VBT_NODE_PYTHON, the repo .venv, then python3).
 */
function topology(options = {}) {
  const args = ['-m', 'vibetensor.fabric.topology', '--json'];
  if (options.from) args.push('--from', String(options.from));
  const python = options.python || pythonExecutable();
  return new Promise((resolve, reject) => {
    execFile(python, args, { maxBuffer: 64 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        const why = (stderr || '').trim().split('\n').pop() || err.message;
        reject(new Error(`fabric.topology(): \`${python} ${args.join(' ')}\` failed: ${why}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout));
      } catch (e) {
        reject(new Error(`fabric.topology(): output was not JSON: ${e.message}`));
      }
    });
  });
}

module.exports = { topology };
