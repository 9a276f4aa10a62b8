"""Compiling generated Triton kernels to cubins for the current GPU and registering them with the core.

The core asks for a kernel by key the first time it needs it (csrc/cuda/kernel_library.h); from then on it
launches the cubin itself. Triton caches compiled kernels on disk (~/.triton/cache), so a key compiles once
per machine.
"""
from .. import _C
from .cache import cache_dir
from .triton import (attention, bias_act, cross_entropy, elementwise, embedding, fabric, index, matmul, norm, optim,
                     random, reduction, rotary, scan, shape, sort)

GENERATORS = {"ew": elementwise, "red": reduction, "soft": reduction, "ixr": index, "ixg": index, "ixc": index,
              "rng": random, "mm": matmul, "scan": scan, "sort": sort, "smerge": sort, "sgather": sort,
              "tri": shape, "fab": fabric,
              "norm": norm, "xent": cross_entropy, "attn": attention, "bact": bias_act, "rope": rotary,
              "embbwd": embedding, **dict.fromkeys(optim.KEY_PREFIXES, optim)}


def trailing_scratch_pointers(metadata):
    """Triton appends scratch pointers to every kernel's parameters (global, then profile scratch)."""
    n = sum(1 for f in ("global_scratch_size", "profile_scratch_size") if hasattr(metadata, f))
    if getattr(metadata, "global_scratch_size", 0):
        raise RuntimeError(f"kernel {metadata.name} needs {metadata.global_scratch_size} bytes of global scratch, "
                           "which the native launcher does not provide")
    return n


def compile_key(key):
    if key.startswith("cute|"):  # CuTe DSL kernels compile through their own package (no Triton involved)
        from . import cute
        return cute.compile_key(key)
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    gen = GENERATORS.get(key.split("|", 1)[0])
    if gen is None:
        raise KeyError(f"no kernel generator for key {key!r}")
    fn, signature, constexprs = gen.load(key, cache_dir())
    props = _C._cuda.device_properties(_C._cuda.current_device())
    target = GPUTarget("cuda", props["major"] * 10 + props["minor"], 32)
    options = {"num_warps": gen.num_warps(key) if hasattr(gen, "num_warps") else gen.NUM_WARPS}
    if hasattr(gen, "num_stages"):  # software pipelining depth of the kernel's loops (Triton's default: 3)
        options["num_stages"] = gen.num_stages(key)
    # attrs: facts about the arguments the native launcher guarantees (alignment), as Triton's own launcher
    # would specialise on them
    src = ASTSource(fn=fn, signature=signature, constexprs=constexprs, attrs=gen.attrs(key) if hasattr(gen, "attrs")
                    else None)
    ck = triton.compile(src, target=target, options=options)
    md = ck.metadata
    _C._cuda.register_kernel(key, md.name, ck.asm["cubin"], md.num_warps, md.shared, trailing_scratch_pointers(md))


def install():
    """Lets the core compile missing kernels on demand (a no-op without a GPU)."""
    if _C._cuda.is_available():
        _C._cuda.set_compile_hook(compile_key)
