'use strict';
// Finds and loads vibetensor.node. CMake builds it next to _C: `pip install -e .` leaves it in the repo's
// build dir (build/py, scikit-build-core's build-dir) and installs a copy beside _C in site-packages/vibetensor.
// Order: VBT_NODE_ADDON, then build/py (freshest while developing: ./dev-build.sh rebuilds it there),
// then the repo .venv's site-packages, then wherever the configured Python finds the vibetensor package.
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const config = require('./config');
const { REPO, pythonExecutable } = require('./python');

const NAME = 'vibetensor.node';

function venvCandidates() {
  const lib = path.join(REPO, '.venv', 'lib');
  if (!fs.existsSync(lib)) return [];
  return fs.readdirSync(lib).filter((d) => d.startsWith('python'))
    .map((d) => path.join(lib, d, 'site-packages', 'vibetensor', NAME));
}

// Asks Python where the package lives without importing it (find_spec does not run the package).
function pythonCandidate() {
  try {
    const out = execFileSync(pythonExecutable(), ['-c',
      'import importlib.util as u; s = u.find_spec("vibetensor"); print(list(s.submodule_search_locations)[0] if s else "")'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 30000 }).trim();
    return out ? [path.join(out, NAME)] : [];
  } catch {
    return [];
  }
}

function locate() {
  const explicit = config.read('VBT_NODE_ADDON');
  if (explicit) {
    if (!fs.existsSync(explicit)) throw new Error(`vibetensor: VBT_NODE_ADDON=${explicit} does not exist`);
    return explicit;
  }
  const tried = [path.join(REPO, 'build', 'py', NAME), ...venvCandidates()];
  for (const p of tried) if (fs.existsSync(p)) return p;
  for (const p of pythonCandidate()) {
    if (fs.existsSync(p)) return p;
    tried.push(p);
  }
  throw new Error(`vibetensor: ${NAME} not found (tried ${tried.join(', ')}). Build it with ` +
    '`pip install -e .` (CMake builds it when Node headers are found) or set VBT_NODE_ADDON to its path.');
}

const addonPath = locate();
const native = require(addonPath);

module.exports = { native, addonPath };
