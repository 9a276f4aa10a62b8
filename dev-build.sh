#!/bin/bash
# Incremental rebuild of the native module for an editable install (after the first `pip install -e .`),
# and of the Node addon (build/py/vibetensor.node, which js/ loads) when CMake configured it.
set -e
cd "$(dirname "$0")"
# VIBETENSOR_MAX_ERRORS: how many compiler error lines to show (declared in vibetensor/config).
cmake --build build/py --target _C -j2 2>&1 | grep -E "error|warning: unused|Error" \
  | head -"${VIBETENSOR_MAX_ERRORS:-40}" || true
cmake --build build/py --target _C -j2 >/dev/null
cp build/py/_C*.so .venv/lib/python3*/site-packages/vibetensor/
if grep -q "vibetensor_node" build/py/build.ninja 2>/dev/null; then
  cmake --build build/py --target vibetensor_node -j2 2>&1 | grep -E "error|Error" | head -${VIBETENSOR_MAX_ERRORS:-40} || true
  cmake --build build/py --target vibetensor_node -j2 >/dev/null
  cp build/py/vibetensor.node .venv/lib/python3*/site-packages/vibetensor/
fi
