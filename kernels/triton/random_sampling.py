"""The sampling kernels of randperm and multinomial on CUDA (csrc/cuda/random_sampling.cpp says how they
combine with the GPU sort and scan). They are ops of random.py's generated kernels: the same keys, the same
prologue (generator state, Philox words of the program's blocks, element offsets) and the same launcher.

perm_keys   int64 output; element j's key is words 0-1 of block base + j (E = 1), as a signed 64-bit value.
perm_ties   rewrites the permutation (output) in place; input: the sorted keys. Each run of L >= 2 equal
            keys starting at sorted position s is shuffled by Fisher-Yates: step t = L-1 .. 1 swaps entries
            t and below(t + 1), drawn as randint does (Lemire on words 0-1, then 2-3) from side stream
            sub = t + 2^32 * attempt of block base + s, which perm_keys reserved and left unused.
mn_draw     multinomial with replacement, int64 samples [rows, ns]; input: each sample's row minimum
            (broadcast). Sample e reads words 2e, 2e+1 (E = 2) as u = Uniform01<double>; its category is the
            first whose running sum (cdf, float64 [rows, ncat]) exceeds u * total, kept below the total.
mn_race     multinomial without replacement, float64 keys [rows, ncat]; input: the weights (any strides).
            Key of e = r * ncat + c: -log1p(-u) / (w / row max), +inf for w = 0 (u from words 2e, 2e+1).
Both multinomial kernels record an invalid row (inf / NaN / negative weight: 0; no weight: 1) in the
device's error word, which the native side raises as ValueError at the next synchronization.
"""

OPS = ("perm_keys", "perm_ties", "mn_draw", "mn_race")
OUTPUTS = {"perm_keys": "int64", "perm_ties": "int64", "mn_draw": "int64", "mn_race": "float64"}
INPUT_OPS = ("perm_ties", "mn_draw", "mn_race")
SIDE_STREAMS_ONLY = ("perm_ties",)  # reads no main-stream words and stores its own output
ELEMENTS_PER_BLOCK = {"perm_keys": 1, "perm_ties": 1, "mn_draw": 2, "mn_race": 2}
_ERROR = [("err_ptr", "*i64"), ("code", "i64")]
PARAMS = {"perm_keys": [], "perm_ties": [],
          "mn_draw": [("cdf_ptr", "*fp64"), ("ns", "i64"), ("ncat", "i64"), ("steps", "i32")] + _ERROR,
          "mn_race": [("top_ptr", "*in"), ("ncat", "i64")] + _ERROR}
INVALID, ZERO_SUM = 0, 1  # kInvalidProbability, kZeroSum in csrc/cuda/error_flag.h

HELPERS = '''

@triton.jit
def _record_error(err_ptr, bad, row, code, WHAT: tl.constexpr):
    """The program's first bad row into the device's error word [flag, row, WHAT, code], unless a kernel
    claimed it already (csrc/cuda/error_flag.h)."""
    if tl.max(bad.to(tl.int32), axis=0) > 0:
        first = tl.min(tl.where(bad, row, 9223372036854775807), axis=0)
        if tl.atomic_cas(err_ptr, tl.full([], 0, tl.int64), tl.full([], 1, tl.int64)) == 0:
            tl.store(err_ptr + 1, first)
            tl.store(err_ptr + 2, tl.full([], WHAT, tl.int64))
            tl.store(err_ptr + 3, code)


@triton.jit
def _below_side(seed, c0, c1, t, need):
    """below(t + 1) per lane where `need`, from side streams t + 2^32 * attempt of the lane's block."""
    rng = tl.zeros(c0.shape, tl.uint64) + (t + 1).to(tl.uint64)
    lim = (tl.zeros(c0.shape, tl.uint64) - rng) % rng  # 2^64 mod (t + 1): Lemire's rejection threshold
    sub = tl.zeros(c0.shape, tl.uint32) + t.to(tl.uint32)
    attempt = tl.zeros(c0.shape, tl.uint32)
    pick = tl.zeros(c0.shape, tl.uint64)
    while tl.max(need.to(tl.int32), axis=0) > 0:  # rejections are rare: (t + 1) / 2^64 per candidate
        x0, x1, x2, x3 = tl.philox(seed, c0, c1, sub, attempt)
        hi0, lo0 = _mul64(_word64(x0, x1), rng)
        hi1, lo1 = _mul64(_word64(x2, x3), rng)
        pick = tl.where(need & (lo0 >= lim), hi0, tl.where(need & (lo1 >= lim), hi1, pick))
        need = need & (lo0 < lim) & (lo1 < lim)
        attempt = attempt + 1
    return pick.to(tl.int64)
'''

_PERM_TIES = """\
    # a run of equal keys starts where the key differs from the one before and equals the one after
    k = tl.load(p_ptr + offs, mask=mask)
    prev = tl.load(p_ptr + offs - 1, mask=mask & (offs > 0))
    nxt = tl.load(p_ptr + offs + 1, mask=mask & (offs + 1 < n))
    start = mask & ((offs == 0) | (prev != k)) & (offs + 1 < n) & (nxt == k)
    length = start.to(tl.int64) * 2
    grow = start
    while tl.max(grow.to(tl.int32), axis=0) > 0:
        j = offs + length
        grow = grow & (j < n)
        grow = grow & (tl.load(p_ptr + j, mask=grow, other=0) == k)
        length = length + grow.to(tl.int64)
    t = tl.max(length, axis=0) - 1
    while t > 0:  # Fisher-Yates over every run at once, its starting lane swapping entries t and below(t + 1)
        act = length > t
        other = offs + _below_side(seed, c0, c1, t, act)
        a = tl.load(out_ptr + offs + t, mask=act)
        b = tl.load(out_ptr + other, mask=act)
        tl.store(out_ptr + offs + t, b, mask=act)
        tl.store(out_ptr + other, a, mask=act)
        t = t - 1
"""

_MN_DRAW = """\
    u = _uniform_f64(w0, w1, w2, w3, BLOCK)
    row = offs // ns
    first = row * ncat
    total = tl.load(cdf_ptr + first + ncat - 1, mask=mask, other=1.0)
    low = {low}.to(tl.float64)
    bad = mask & ((low < 0) | (low != low) | (total != total) | (total == float('inf')))
    _record_error(err_ptr, bad, row, code, {invalid})
    _record_error(err_ptr, mask & (bad == 0) & (total == 0), row, code, {zero_sum})
    # the first category whose running sum exceeds x, with x below the total (u * total may round up to
    # it): always a category of positive weight, as on the CPU
    x = u * total
    x = tl.where(x < total, x, (total.to(tl.int64, bitcast=True) - 1).to(tl.float64, bitcast=True))
    lo = tl.zeros([BLOCK], tl.int64)
    hi = lo + ncat
    for _ in range(steps):
        act = lo < hi
        mid = (lo + hi) // 2
        up = tl.load(cdf_ptr + first + mid, mask=mask & act, other=0.0) > x
        hi = tl.where(act & up, mid, hi)
        lo = tl.where(act & (up == 0), mid + 1, lo)
    r = tl.minimum(lo, ncat - 1)  # ncat only in a row the error word reports
"""

_MN_RACE = """\
    u = _uniform_f64(w0, w1, w2, w3, BLOCK)
    row = offs // ncat
    w = {weight}.to(tl.float64)
    top = {top}.to(tl.float64)
    bad = mask & (((w >= 0) & (w < float('inf'))) == 0)
    _record_error(err_ptr, bad, row, code, {invalid})
    _record_error(err_ptr, mask & (bad == 0) & (top == 0), row, code, {zero_sum})
    v = w / top
    r = tl.where(v > 0, -libdevice.log1p(-u) / tl.where(v > 0, v, 1.0), float('inf'))  # no 1 / 0 for w = 0
"""


def op_lines(op, inp, p_off, load):
    """Lines computing `r` (perm_ties: rewriting out_ptr itself) for a sampling op. load(pointer, dtype,
    other): random.py's masked load of BLOCK values, widened as the kernels read them."""
    codes = {"invalid": INVALID, "zero_sum": ZERO_SUM}
    if op == "perm_keys":
        return ["    r = _word64(w0, w1).to(tl.int64, bitcast=True)"]
    if op == "perm_ties":
        return _PERM_TIES.splitlines()
    if op == "mn_draw":
        return _MN_DRAW.format(low=load(f"p_ptr + ({p_off})", inp, 0), **codes).splitlines()
    if op == "mn_race":
        return _MN_RACE.format(weight=load(f"p_ptr + ({p_off})", inp, 1), top=load("top_ptr + row", inp, 1),
                               **codes).splitlines()
    raise KeyError(op)
