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


# A key ending in ALIGNED was launched by a native side that checked the arguments its generator names in
# aligned_args(key) to be multiples of 16: pointers 16-byte aligned, element counts multiples of 16. The
# kernel's source is the plain key's; declaring those facts (as Triton's own launcher specialises on them)
# lets Triton move 16 bytes per access where it otherwise reads and writes one element at a time (bf16 GELU
# backward on an H200: 59 us against 48 with the facts; torch 47).
ALIGNED = "@a16"


def split_aligned(key):
    """(the key without the ALIGNED suffix, whether it had one)."""
    return (key[:-len(ALIGNED)], True) if key.endswith(ALIGNED) else (key, False)


def divisibility(signature, names):
    """Triton attrs declaring the arguments `names` (of a kernel whose arguments are `signature`'s keys, in
    order) divisible by 16."""
    order = list(signature)
    return {(order.index(n),): [["tt.divisibility", 16]] for n in names}


def trailing_scratch_pointers(metadata):
    """Triton appends scratch pointers to every kernel's parameters (global, then profile scratch)."""
    n = sum(1 for f in ("global_scratch_size", "profile_scratch_size") if hasattr(metadata, f))
    if getattr(metadata, "global_scratch_size", 0):
        raise RuntimeError(f"kernel {metadata.name} needs {metadata.global_scratch_size} bytes of global scratch, "
                           "which the native launcher does not provide")
    return n


def build(key, arch):
    """(entry point, cubin bytes, num_warps, dynamic shared bytes, trailing scratch pointers) of a Triton
    kernel key compiled for sm_<arch> (90 for Hopper); no GPU needed."""
    ck = compiled(key, arch)
    md = ck.metadata
    return md.name, ck.asm["cubin"], md.num_warps, md.shared, trailing_scratch_pointers(md)


def compiled(key, arch):
    """Triton's compiled kernel (cubin, PTX, metadata) of a kernel key for sm_<arch>."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    key, aligned = split_aligned(key)
    gen = GENERATORS.get(key.split("|", 1)[0])
    if gen is None:
        raise KeyError(f"no kernel generator for key {key!r}")
    if aligned and not hasattr(gen, "aligned_args"):
        raise KeyError(f"kernel key {key + ALIGNED!r}: its generator declares no aligned arguments")
    fn, signature, constexprs = gen.load(key, cache_dir())
    options = {"num_warps": gen.num_warps(key) if hasattr(gen, "num_warps") else gen.NUM_WARPS}
    if hasattr(gen, "num_stages"):  # software pipelining depth of the kernel's loops (Triton's default: 3)
        options["num_stages"] = gen.num_stages(key)
    # attrs: facts about the arguments the native launcher guarantees (alignment), as Triton's own launcher
    # would specialise on them
    attrs = gen.attrs(key) if hasattr(gen, "attrs") else None
    if aligned:
        attrs = {**(attrs or {}), **divisibility(signature, gen.aligned_args(key))}
    src = ASTSource(fn=fn, signature=signature, constexprs=constexprs, attrs=attrs)
    return triton.compile(src, target=GPUTarget("cuda", int(arch), 32), options=options)


def compile_key(key):
    if key.startswith("cute|"):  # CuTe DSL kernels compile through their own package (no Triton involved)
        from . import cute
        return cute.compile_key(key)
    props = _C._cuda.device_properties(_C._cuda.current_device())
    _C._cuda.register_kernel(key, *build(key, props["major"] * 10 + props["minor"]))


def install():
    """Lets the core compile missing kernels on demand (a no-op without a GPU)."""
    if _C._cuda.is_available():
        _C._cuda.set_compile_hook(compile_key)


def main(argv=None):
    """The compiler of processes without Python in them (the Node addon): compiles KEY for sm_ARCH, writes
    the cubin to OUT and prints "entry num_warps shared_bytes scratch_pointers" on one line."""
    import argparse
    import sys
    ap = argparse.ArgumentParser(prog="python -m vibetensor.kernels", description=main.__doc__)
    ap.add_argument("key")
    ap.add_argument("--arch", type=int, required=True, help="compute capability as major * 10 + minor (90)")
    ap.add_argument("--out", required=True, help="file the cubin is written to")
    args = ap.parse_args(argv)
    if args.key.startswith("cute|"):
        raise SystemExit(f"{args.key}: CuTe DSL kernels are compiled in the process that launches them")
    try:
        name, cubin, warps, shared, scratch = build(args.key, args.arch)
    except (KeyError, ValueError) as e:  # a key no generator makes: one line for the caller's error
        print(f"cannot compile {args.key!r}: {e}", file=sys.stderr)
        raise SystemExit(2)
    with open(args.out, "wb") as f:
        f.write(cubin)
    print(name, warps, shared, scratch)

