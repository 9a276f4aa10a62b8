#!/bin/bash
# Incremental rebuild of the native module for an editable install (after the first `pip install -e .`).
set -e
cd "$(dirname "$0")"
# VIBETENSOR_MAX_ERRORS: how many compiler error lines to show (declared in vibetensor/config).
cmake --build build/py --target _C -j2 2>&1 | grep -E "error|warning: unused|Error" \
  | head -"${VIBETENSOR_MAX_ERRORS:-40}" || true
cmake --build build/py --target _C -j2 >/dev/null
cp build/py/_C*.so .venv/lib/python3*/site-packages/vibetensor/
