"""GPU kernels: Triton (and CuTe DSL) sources, their generators, and the compile-on-demand registry.

The native core launches compiled cubins itself; this package only produces them (compile.py), and runs
the same kernels under Triton's interpreter on CPU for the tests (interpret.py).
"""
from . import compile as _compile

_compile.install()
