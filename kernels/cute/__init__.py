"""GPU kernels written in CUTLASS CuTe DSL (nvidia-cutlass-dsl, optional), compiled ahead of time to cubins.

Keys `cute|<family>|...` name them in the core's kernel registry; kernels.compile sends such keys here. The
package imports without nvidia-cutlass-dsl: only compiling needs it (see aot.py), and each family's
`available()` says whether it can run here.
"""
FAMILIES = {"rc": "reduce_copy"}  # key family -> module holding compile_key


def compile_key(key):
    """Compiles and registers the cubin for a `cute|<family>|...` key."""
    import importlib

    family = key.split("|")[1] if key.count("|") >= 1 else ""
    if family not in FAMILIES:
        raise KeyError(f"no CuTe DSL kernel family for key {key!r}")
    importlib.import_module(f".{FAMILIES[family]}", __name__).compile_key(key)
