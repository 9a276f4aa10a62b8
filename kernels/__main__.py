"""python -m vibetensor.kernels KEY --arch 90 --out FILE: compiles one kernel key (kernels/compile.main)."""
from .compile import main

main()
