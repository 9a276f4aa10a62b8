"""Fused attention kernels, FlashAttention-2 style (keys, configs and launch plan: attention.py; the native
launcher: csrc/cuda/attention.cpp).

Tensors are [B, H, T, D] at any strides with the head dim contiguous; a program works on one head of one
batch element. Scores live in base 2 (the scale is pre-multiplied by log2(e), so exp2 is one instruction);
the saved log-sum-exp is natural-log, as the op returns it.

Causal masking is top-left aligned (query i sees keys j <= i), as torch's is_causal. Blocks no row sees
are never visited. The forward and dQ split their key blocks in two: those every row of the tile sees
entirely, run with no mask at all, and those crossing the diagonal or the sequence end, run with the mask
(MASKED is a constexpr: two copies of the loop). dK/dV runs one loop (see attn_bwd_dkdv).

Register use, from cuobjdump --dump-resource-usage of the sm_90 cubins with the configs of
csrc/cuda/attention.cpp, Triton 3.6 and 3.9: no spills.
"""
import triton
import triton.language as tl

LOG2E: tl.constexpr = tl.constexpr(1.4426950408889634)
LN2: tl.constexpr = tl.constexpr(0.6931471805599453)


@triton.jit
def _rows(ptr, b, h, sb, sh, sr, start, offs_r, offs_d):
    """Pointers to rows start + offs_r of head (b, h): the head's offset in 64-bit, the tile's in 32."""
    base = ptr + b.to(tl.int64) * sb + h.to(tl.int64) * sh + tl.cast(start, tl.int64) * sr
    return base + offs_r[:, None] * sr + offs_d[None, :]


@triton.jit
def _key_ranges(m0, Lk, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, CAUSAL: tl.constexpr):
    """(full, end) for the query rows [m0, m0 + BLOCK_M): key blocks [0, full) are seen whole by every
    row and in range; [full, end) need the mask; keys past end are seen by no row."""
    if CAUSAL:
        end = tl.minimum(m0 + BLOCK_M, Lk)
        full = tl.minimum((m0 + 1) // BLOCK_N, Lk // BLOCK_N) * BLOCK_N
    else:
        end = Lk
        full = Lk // BLOCK_N * BLOCK_N
    return full, end


@triton.jit
def _kv_block(k_ptrs, v_ptrs, cols, Lk, MASKED: tl.constexpr):
    """One BLOCK_N block of keys and values (rows past Lk as zeros when MASKED)."""
    if MASKED:
        k = tl.load(k_ptrs, mask=(cols < Lk)[:, None], other=0.0)
        v = tl.load(v_ptrs, mask=(cols < Lk)[:, None], other=0.0)
    else:
        k = tl.load(k_ptrs)
        v = tl.load(v_ptrs)
    return k, v


@triton.jit
def _keep(offs_m, cols, Lk, CAUSAL: tl.constexpr):
    """[BLOCK_M, BLOCK_N]: which scores count (the key exists and, if causal, is not after the query)."""
    keep = (cols < Lk)[None, :]
    if CAUSAL:
        keep = keep & (offs_m[:, None] >= cols[None, :])
    return keep


@triton.jit
def _fwd_range(acc, l_i, m_i, q, k_ptrs, v_ptrs, skn, svn, offs_m, lo, hi, Lk, qk_scale,
               BLOCK_N: tl.constexpr, CAUSAL: tl.constexpr, MASKED: tl.constexpr):
    """Online softmax over key blocks [lo, hi): running max m_i, running sum l_i, unnormalised acc."""
    offs_n = tl.arange(0, BLOCK_N)
    k_ptrs += tl.cast(lo, tl.int64) * skn
    v_ptrs += tl.cast(lo, tl.int64) * svn
    for start_n in range(lo, hi, BLOCK_N):
        cols = start_n + offs_n
        k, v = _kv_block(k_ptrs, v_ptrs, cols, Lk, MASKED)
        qk = tl.dot(q, tl.trans(k), input_precision="tf32x3")
        if MASKED:
            keep = _keep(offs_m, cols, Lk, CAUSAL)
            # -inf, not a large negative: exact for any score; no row's first visited block is all masked
            # (key 0 is always visible), so the running max is finite and exp2 never sees -inf - -inf
            qk = tl.where(keep, qk * qk_scale, float("-inf"))
            m_ij = tl.maximum(m_i, tl.max(qk, 1))
            p = tl.math.exp2(qk - m_ij[:, None])
        else:  # scale folded into the subtraction: one FMA per score (qk_scale >= 0: the max commutes)
            m_ij = tl.maximum(m_i, tl.max(qk, 1) * qk_scale)
            p = tl.math.exp2(qk * qk_scale - m_ij[:, None])
        alpha = tl.math.exp2(m_i - m_ij)
        l_i = l_i * alpha + tl.sum(p, 1)
        acc = tl.dot(p.to(v.dtype), v, acc * alpha[:, None], input_precision="tf32x3")
        m_i = m_ij
        k_ptrs += BLOCK_N * skn
        v_ptrs += BLOCK_N * svn
    return acc, l_i, m_i


@triton.jit
def _query_block(Lq, BLOCK_M: tl.constexpr, CAUSAL: tl.constexpr):
    """This program's query block: causal ones run the last (longest) blocks first, so the short ones
    fill the tail of the grid."""
    pid = tl.program_id(0)
    if CAUSAL:
        pid = tl.cdiv(Lq, BLOCK_M) - 1 - pid
    return pid * BLOCK_M


@triton.jit
def attn_fwd(Q, K, V, O, LSE, sm_scale, Lq, Lk, H, GROUP, sqb, sqh, sqm, skb, skh, skn, svb, svh, svn, sob, soh,
             som, HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, CAUSAL: tl.constexpr):
    """O = softmax(Q K^T * scale) V for one BLOCK_M tile of query rows; LSE [B, H, Lq] (natural log)."""
    m0 = _query_block(Lq, BLOCK_M, CAUSAL)
    bh = tl.program_id(1)
    b, h = bh // H, bh % H
    kvh = h // GROUP
    offs_r = tl.arange(0, BLOCK_M)
    offs_m = m0 + offs_r
    offs_d = tl.arange(0, HEAD_DIM)
    offs_n = tl.arange(0, BLOCK_N)
    rows = (offs_m < Lq)[:, None]
    q = tl.load(_rows(Q, b, h, sqb, sqh, sqm, m0, offs_r, offs_d), mask=rows, other=0.0)
    k_ptrs = _rows(K, b, kvh, skb, skh, skn, 0, offs_n, offs_d)
    v_ptrs = _rows(V, b, kvh, svb, svh, svn, 0, offs_n, offs_d)
    qk_scale = sm_scale.to(tl.float32) * LOG2E  # the interpreter passes the scale as fp64
    m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, HEAD_DIM], tl.float32)
    full, end = _key_ranges(m0, Lk, BLOCK_M, BLOCK_N, CAUSAL)
    acc, l_i, m_i = _fwd_range(acc, l_i, m_i, q, k_ptrs, v_ptrs, skn, svn, offs_m, 0, full, Lk, qk_scale,
                               BLOCK_N, CAUSAL, False)
    acc, l_i, m_i = _fwd_range(acc, l_i, m_i, q, k_ptrs, v_ptrs, skn, svn, offs_m, full, end, Lk, qk_scale,
                               BLOCK_N, CAUSAL, True)
    tl.store(LSE + bh.to(tl.int64) * Lq + offs_m, (m_i + tl.math.log2(l_i)) * LN2, mask=offs_m < Lq)
    o = acc / l_i[:, None]
    tl.store(_rows(O, b, h, sob, soh, som, m0, offs_r, offs_d), o.to(O.dtype.element_ty), mask=rows)


@triton.jit
def attn_bwd_delta(O, DO, DELTA, Lq, H, sob, soh, som, sdb, sdh, sdm, HEAD_DIM: tl.constexpr,
                   BLOCK_M: tl.constexpr):
    """delta = rowsum(dO * O) in fp32, [B, H, Lq]: the softmax backward's per-row term."""
    m0 = tl.program_id(0) * BLOCK_M
    bh = tl.program_id(1)
    b, h = bh // H, bh % H
    offs_r = tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, HEAD_DIM)
    rows = m0 + offs_r < Lq
    o = tl.load(_rows(O, b, h, sob, soh, som, m0, offs_r, offs_d), mask=rows[:, None], other=0.0)
    do = tl.load(_rows(DO, b, h, sdb, sdh, sdm, m0, offs_r, offs_d), mask=rows[:, None], other=0.0)
    delta = tl.sum(o.to(tl.float32) * do.to(tl.float32), 1)
    tl.store(DELTA + bh.to(tl.int64) * Lq + m0 + offs_r, delta, mask=rows)


@triton.jit
def attn_bwd_dkdv(Q, K, V, DO, LSE, DELTA, DK, DV, sm_scale, Lq, Lk, H, GROUP, sqb, sqh, sqm, skb, skh, skn, svb,
                  svh, svn, sdb, sdh, sdm, sdkb, sdkh, sdkn, sdvb, sdvh, sdvn, HEAD_DIM: tl.constexpr,
                  BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, CAUSAL: tl.constexpr):
    """dK and dV of one BLOCK_N tile of one key/value head, summed over the GROUP query heads sharing it
    (GQA) in registers: each is written once, no atomics. H: query heads; program_id(1) = b * H / GROUP +
    key head. P^T is recomputed from K Q^T and the saved LSE, query block by query block."""
    n0 = tl.program_id(0) * BLOCK_N
    hkv = H // GROUP
    bh = tl.program_id(1)
    b, kvh = bh // hkv, bh % hkv
    offs_c = tl.arange(0, BLOCK_N)
    offs_n = n0 + offs_c
    offs_d = tl.arange(0, HEAD_DIM)
    offs_r = tl.arange(0, BLOCK_M)
    cols = (offs_n < Lk)[:, None]
    k = tl.load(_rows(K, b, kvh, skb, skh, skn, n0, offs_c, offs_d), mask=cols, other=0.0)
    v = tl.load(_rows(V, b, kvh, svb, svh, svn, n0, offs_c, offs_d), mask=cols, other=0.0)
    qk_scale = sm_scale.to(tl.float32) * LOG2E
    dk = tl.zeros([BLOCK_N, HEAD_DIM], tl.float32)
    dv = tl.zeros([BLOCK_N, HEAD_DIM], tl.float32)
    tile_q = offs_r[:, None] * sqm + offs_d[None, :]
    tile_do = offs_r[:, None] * sdm + offs_d[None, :]
    end = tl.cdiv(Lq, BLOCK_M) * BLOCK_M
    if CAUSAL:  # rows before n0 see none of these keys; query blocks from `full` on see all of them
        lo = n0 // BLOCK_M * BLOCK_M
        full = tl.cdiv(n0 + BLOCK_N - 1, BLOCK_M) * BLOCK_M
    else:
        lo = 0
    # One flat loop over (query head, query block), not a loop nest (its second set of loop state spilled
    # at D = 128), and the causal compare on every step rather than a second copy of the loop for the
    # diagonal blocks (with Triton 3.6 that copy spilled too): 16 compares a thread per step against four
    # tile matmuls. Query rows past Lq load as zeros with lse = delta = 0: their P is 1 but dO, Q and dP
    # are 0, so they add nothing.
    blocks = (end - lo) // BLOCK_M
    for step in range(0, GROUP * blocks):
        g = step // blocks
        start_m = lo + (step - g * blocks) * BLOCK_M
        h = kvh * GROUP + g
        offs_m = start_m + offs_r
        rows = offs_m < Lq
        q = tl.load(Q + (b.to(tl.int64) * sqb + h.to(tl.int64) * sqh + tl.cast(start_m, tl.int64) * sqm) + tile_q,
                    mask=rows[:, None], other=0.0)
        do = tl.load(DO + (b.to(tl.int64) * sdb + h.to(tl.int64) * sdh + tl.cast(start_m, tl.int64) * sdm) + tile_do,
                     mask=rows[:, None], other=0.0)
        stats = (b * H + h).to(tl.int64) * Lq + offs_m
        lse = tl.load(LSE + stats, mask=rows, other=0.0)
        delta = tl.load(DELTA + stats, mask=rows, other=0.0)
        p_t = tl.math.exp2(tl.dot(k, tl.trans(q), input_precision="tf32x3") * qk_scale - lse[None, :] * LOG2E)
        if CAUSAL:
            p_t = tl.where((offs_m[None, :] >= offs_n[:, None]) | (start_m >= full), p_t, 0.0)
        dv = tl.dot(p_t.to(do.dtype), do, dv, input_precision="tf32x3")
        dp_t = tl.dot(v, tl.trans(do), input_precision="tf32x3")
        ds_t = p_t * (dp_t - delta[None, :])
        dk = tl.dot(ds_t.to(q.dtype), q, dk, input_precision="tf32x3")
    dk = dk * sm_scale.to(tl.float32)
    tl.store(_rows(DK, b, kvh, sdkb, sdkh, sdkn, n0, offs_c, offs_d), dk.to(DK.dtype.element_ty), mask=cols)
    tl.store(_rows(DV, b, kvh, sdvb, sdvh, sdvn, n0, offs_c, offs_d), dv.to(DV.dtype.element_ty), mask=cols)


@triton.jit
def _dq_range(dq, q, do, lse, delta, k_ptrs, v_ptrs, skn, svn, offs_m, lo, hi, Lk, qk_scale,
              BLOCK_N: tl.constexpr, CAUSAL: tl.constexpr, MASKED: tl.constexpr):
    """dQ of one query block from key blocks [lo, hi) (P recomputed as in _dkdv_range, by rows)."""
    offs_n = tl.arange(0, BLOCK_N)
    k_ptrs += tl.cast(lo, tl.int64) * skn
    v_ptrs += tl.cast(lo, tl.int64) * svn
    for start_n in range(lo, hi, BLOCK_N):
        cols = start_n + offs_n
        k, v = _kv_block(k_ptrs, v_ptrs, cols, Lk, MASKED)
        p = tl.math.exp2(tl.dot(q, tl.trans(k), input_precision="tf32x3") * qk_scale - lse[:, None])
        if MASKED:
            keep = _keep(offs_m, cols, Lk, CAUSAL)
            p = tl.where(keep, p, 0.0)
        dp = tl.dot(do, tl.trans(v), input_precision="tf32x3")
        ds = p * (dp - delta[:, None])
        dq = tl.dot(ds.to(k.dtype), k, dq, input_precision="tf32x3")
        k_ptrs += BLOCK_N * skn
        v_ptrs += BLOCK_N * svn
    return dq


@triton.jit
def attn_bwd_dq(Q, K, V, DO, LSE, DELTA, DQ, sm_scale, Lq, Lk, H, GROUP, sqb, sqh, sqm, skb, skh, skn, svb, svh,
                svn, sdb, sdh, sdm, sdqb, sdqh, sdqm, HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr,
                BLOCK_N: tl.constexpr, CAUSAL: tl.constexpr):
    """dQ of one BLOCK_M tile of query rows, walking the key blocks as the forward did."""
    m0 = _query_block(Lq, BLOCK_M, CAUSAL)
    bh = tl.program_id(1)
    b, h = bh // H, bh % H
    kvh = h // GROUP
    offs_r = tl.arange(0, BLOCK_M)
    offs_m = m0 + offs_r
    offs_d = tl.arange(0, HEAD_DIM)
    offs_n = tl.arange(0, BLOCK_N)
    rows = offs_m < Lq
    q = tl.load(_rows(Q, b, h, sqb, sqh, sqm, m0, offs_r, offs_d), mask=rows[:, None], other=0.0)
    do = tl.load(_rows(DO, b, h, sdb, sdh, sdm, m0, offs_r, offs_d), mask=rows[:, None], other=0.0)
    lse = tl.load(LSE + bh.to(tl.int64) * Lq + offs_m, mask=rows, other=0.0) * LOG2E
    delta = tl.load(DELTA + bh.to(tl.int64) * Lq + offs_m, mask=rows, other=0.0)
    k_ptrs = _rows(K, b, kvh, skb, skh, skn, 0, offs_n, offs_d)
    v_ptrs = _rows(V, b, kvh, svb, svh, svn, 0, offs_n, offs_d)
    qk_scale = sm_scale.to(tl.float32) * LOG2E
    dq = tl.zeros([BLOCK_M, HEAD_DIM], tl.float32)
    full, end = _key_ranges(m0, Lk, BLOCK_M, BLOCK_N, CAUSAL)
    dq = _dq_range(dq, q, do, lse, delta, k_ptrs, v_ptrs, skn, svn, offs_m, 0, full, Lk, qk_scale, BLOCK_N, CAUSAL,
                   False)
    dq = _dq_range(dq, q, do, lse, delta, k_ptrs, v_ptrs, skn, svn, offs_m, full, end, Lk, qk_scale, BLOCK_N, CAUSAL,
                   True)
    dq = dq * sm_scale.to(tl.float32)
    tl.store(_rows(DQ, b, h, sdqb, sdqh, sdqm, m0, offs_r, offs_d), dq.to(DQ.dtype.element_ty), mask=rows[:, None])
