'use strict';
// fabric.topology() is the graph `vibetensor-topo --json` prints: this machine, and a fixture box.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const vt = require('..');
const { REPO, pythonExecutable } = require('../lib/python');

const topoCli = (...args) => {
  const cli = path.join(path.dirname(pythonExecutable()), 'vibetensor-topo');
  return JSON.parse(execFileSync(cli, ['--json', ...args], { encoding: 'utf8' }));
};

test('this machine: the same graph as vibetensor-topo --json', async () => {
  const g = await vt.fabric.topology();
  assert.equal(g.format, 'vibetensor-topology');
  assert.deepEqual(g, topoCli());
  assert.equal(g.nodes.filter((n) => n.type === 'gpu').length, vt.cuda.deviceCount());
});

test('a described machine: the 8-GPU NVSwitch fixture', async () => {
  const fixture = path.join(REPO, 'fabric', 'topology', 'fixtures', 'dgx_h100_8gpu.json');
  const g = await vt.fabric.topology({ from: fixture });
  assert.deepEqual(g, topoCli('--from', fixture));
  assert.equal(g.nodes.filter((n) => n.type === 'gpu').length, 8);
  assert.ok(g.edges.some((e) => e.source === 'gpu0' && e.target === 'gpu7'));
});

test('a missing file rejects with the CLI message', async () => {
  await assert.rejects(vt.fabric.topology({ from: '/nonexistent/topo.json' }), /fabric.topology\(\).*failed: .+/);
});
