"""Embedding backward Triton kernels (the weight's gradient), generated from the keys the native core asks
for (csrc/cuda/embedding_backward.cpp):

    embbwd|seg|<grad dtype>|<index dtype>|<CHUNK>|<BLOCK_D>
    embbwd|join|<grad dtype>|<index dtype>|<CHUNK>|<BLOCK_D>

The n indices arrive sorted (stable: equal indices keep their order) with their positions, so the rows of
one index form a run; the sums are made in fp32 (fp64 for float64) in a fixed order, so the result does
not change from run to run (float atomics would make it depend on timing). The sorted rows are cut into chunks of CHUNK:
  seg:  a program per (chunk, column block) loads its CHUNK gradient rows and sums each run with a
        segmented scan. A run that lies in the chunk is written to its row of the weight's gradient; the
        part of a run that began in an earlier chunk (head) and a run that goes on past the chunk (tail)
        are written to a [chunks, 2, D] fp32 (fp64) buffer instead.
  join: the program of the chunk where such a run starts adds its tail to the heads of the chunks it
        spans, JOIN chunks a step (a fixed summation order), and writes the row.
Runs of padding_idx, and indices outside [0, V) (reported by the forward), are not written: the gradient
was zero-filled before.
"""
import hashlib

from .elementwise import SIGNATURE_TYPES, TRITON_TYPES, _write_and_import

NUM_WARPS = 4
JOIN = 16  # chunk heads the join adds per step: a run over 1000 rows of 16-row chunks takes 4 dependent steps

HELPERS = """

@triton.jit
def _segmented_add(fa, va, fb, vb):
    return fa | fb, tl.where(fb != 0, vb, va + vb)
"""

_SEG = """
    c = tl.program_id(0).to(tl.int64)
    i = tl.arange(0, CHUNK)
    p = c * CHUNK + i
    valid = p < n
    v = tl.load(sorted_ptr + p, mask=valid, other=0)
    start = (p == 0) | (v != tl.load(sorted_ptr + p - 1, mask=valid & (p > 0), other=0))
    end = valid & ((p + 1 >= n) | (v != tl.load(sorted_ptr + p + 1, mask=p + 1 < n, other=0)))
    last = valid & ((i == CHUNK - 1) | (p + 1 >= n))
    # rows before the chunk's first run start belong to a run that began in an earlier chunk
    head = i < tl.min(tl.where(start & valid, i, CHUNK), axis=0)
    cols = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    cm = cols < D
    src = tl.load(perm_ptr + p, mask=valid, other=0)
    g = tl.load(grad_ptr + src[:, None] * D + cols[None, :], mask=valid[:, None] & cm[None, :], other=0)
    flags = tl.broadcast_to(((start | (i == 0)).to(tl.int32))[:, None], (CHUNK, BLOCK_D))
    _, s = tl.associative_scan((flags, g.to({acc})), 0, _segmented_add)
    ok = (v >= 0) & (v < V) & (v != padding_idx)
    whole = end & (head == 0) & ok
    tl.store(out_ptr + v[:, None] * D + cols[None, :], s.to({out}), mask=whole[:, None] & cm[None, :])
    slot = tl.where(head, 0, 1)  # head part, or tail
    part = (head & (end | last)) | (last & (end == 0) & (head == 0))
    tl.store(part_ptr + (c * 2 + slot)[:, None] * D + cols[None, :], s, mask=part[:, None] & cm[None, :])
"""

_JOIN = """
    c = tl.program_id(0).to(tl.int64)
    cols = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    cm = cols < D
    lastp = tl.minimum(c * CHUNK + CHUNK, n) - 1
    v = tl.load(sorted_ptr + lastp)
    # the run of the chunk's last row starts in this chunk and goes on past it: this program owns it
    starts_here = (c == 0) | (tl.load(sorted_ptr + c * CHUNK - 1, mask=c > 0, other=0) != v)
    go = starts_here & (lastp + 1 < n) & (tl.load(sorted_ptr + lastp + 1, mask=lastp + 1 < n, other=0) == v)
    owner = go
    # scalar conditions enter masks as column limits: the interpreter turns vector & scalar into int32
    acc = tl.load(part_ptr + (c * 2 + 1) * D + cols, mask=cols < tl.where(go, D, 0), other=0)
    # the run's next chunks (those whose first row is v: the indices are sorted), JOIN heads per step
    j = c + 1
    while go:
        jj = j + tl.arange(0, JOIN)
        first = jj * CHUNK
        inrun = (first < n) & (tl.load(sorted_ptr + first, mask=first < n, other=0) == v)
        heads = tl.load(part_ptr + (jj * 2)[:, None] * D + cols[None, :], mask=inrun[:, None] & cm[None, :], other=0)
        acc += tl.sum(heads, axis=0)
        j += JOIN
        go = (j * CHUNK < n) & (tl.load(sorted_ptr + j * CHUNK, mask=j * CHUNK < n, other=0) == v)
    ok = owner & (v >= 0) & (v < V) & (v != padding_idx)
    tl.store(out_ptr + v * D + cols, acc.to({out}), mask=cols < tl.where(ok, D, 0))
"""


def parse_key(key):
    parts = key.split("|")
    if len(parts) != 6 or parts[0] != "embbwd" or parts[1] not in ("seg", "join"):
        raise KeyError(f"not an embedding backward kernel key: {key!r}")
    return parts[1], parts[2], parts[3], int(parts[4]), int(parts[5])


def generate(key):
    kind, dtype, itype, chunk, block_d = parse_key(key)
    args = (["sorted_ptr", "perm_ptr", "grad_ptr", "out_ptr", "part_ptr"] if kind == "seg" else
            ["sorted_ptr", "part_ptr", "out_ptr"]) + ["n", "D", "V", "padding_idx"]
    name = "embbwd_" + hashlib.sha1(key.encode()).hexdigest()[:12]
    signature = {"sorted_ptr": "*" + SIGNATURE_TYPES[itype], "perm_ptr": "*i64",
                 "grad_ptr": "*" + SIGNATURE_TYPES[dtype], "out_ptr": "*" + SIGNATURE_TYPES[dtype],
                 "part_ptr": "*fp64" if dtype == "float64" else "*fp32",
                 "n": "i64", "D": "i64", "V": "i64", "padding_idx": "i64"}
    signature = {a: signature[a] for a in args}
    signature.update(CHUNK="constexpr", BLOCK_D="constexpr", JOIN="constexpr")
    acc = "tl.float64" if dtype == "float64" else "tl.float32"
    body = (_SEG if kind == "seg" else _JOIN).replace("{out}", TRITON_TYPES[dtype]).replace("{acc}", acc)
    src = ("import triton\nimport triton.language as tl\n" + HELPERS + "\n\n@triton.jit\n"
           f"def {name}({', '.join(args)}, CHUNK: tl.constexpr, BLOCK_D: tl.constexpr, JOIN: tl.constexpr):" + body)
    return src, name, signature, {"CHUNK": chunk, "BLOCK_D": block_d, "JOIN": JOIN}


def load(key, cache_dir, module_suffix=""):
    src, name, signature, constexprs = generate(key)
    return _write_and_import(src, name, cache_dir, module_suffix), signature, constexprs
