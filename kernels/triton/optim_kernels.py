"""The multi-tensor optimizer kernels (keys, tables and launch plan: optim.py). Every kernel gets device
tables of int64 addresses, one entry per tensor, and a tile plan: program p works on tile p, which belongs
to tensor tile_tensor[p] and starts (p - first_tile[t]) * BLOCK elements into it. Math is float32 whatever
the storage dtype; divisions and square roots are IEEE-rounded (div_rn, sqrt_rn) as in PyTorch's kernels."""
import triton
import triton.language as tl
from triton.language.extra import libdevice


@triton.jit
def _typed(table, i, CODE: tl.constexpr):
    """Entry i of an address table as a pointer to CODE's dtype (0 float32, 1 float16, 2 bfloat16). The host
    puts only 16-byte aligned tensors in tables: saying so lets full tiles take 16-byte loads."""
    a = tl.load(table + i)
    if CODE == 1:
        p = a.to(tl.pointer_type(tl.float16))
    elif CODE == 2:
        p = a.to(tl.pointer_type(tl.bfloat16))
    else:
        p = a.to(tl.pointer_type(tl.float32))
    return tl.multiple_of(p, 16)


@triton.jit
def _tile(numels, first_tile, tile_tensor, BLOCK: tl.constexpr):
    """(program, tensor, element offsets, mask, whether the tile is full: then callers pass no mask, so the
    loads and stores can be 16-byte vectors)."""
    pid = tl.program_id(0)
    t = tl.load(tile_tensor + pid)
    start = (pid - tl.load(first_tile + t)).to(tl.int64) * BLOCK
    n = tl.load(numels + t)
    offs = start + tl.arange(0, BLOCK)
    return pid, t, offs, offs < n, start + BLOCK <= n


@triton.jit
def adam(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, numels, first_tile, tile_tensor, lr, beta1,
         beta2, eps, weight_decay, bias_correction1, bias_correction2_sqrt, new_step, PCODE: tl.constexpr,
         SCODE: tl.constexpr, L2: tl.constexpr, DECOUPLED: tl.constexpr, AMSGRAD: tl.constexpr,
         MAXIMIZE: tl.constexpr, DEVICE_STEP: tl.constexpr, BLOCK: tl.constexpr):
    """One Adam/AdamW step, PyTorch's fused formula. DEVICE_STEP: each tensor's step count is read from its
    step tensor (already incremented by step_increment: a CUDA graph replays it), else the host passes the bias
    corrections and the first tile of each tensor stores the new count in its step tensor."""
    pid, t, offs, m, full = _tile(numels, first_tile, tile_tensor, BLOCK)
    step_ptr = tl.load(steps + t).to(tl.pointer_type(tl.float32))
    if DEVICE_STEP:
        step = tl.load(step_ptr)
        bc1 = 1.0 - libdevice.pow(beta1, step)
        bc2_sqrt = tl.sqrt_rn(1.0 - libdevice.pow(beta2, step))
    else:
        bc1 = bias_correction1
        bc2_sqrt = bias_correction2_sqrt
        if pid == tl.load(first_tile + t):
            tl.store(step_ptr, new_step)
    ptrs = (_typed(params, t, PCODE), _typed(grads, t, PCODE), _typed(exp_avgs, t, SCODE),
            _typed(exp_avg_sqs, t, SCODE), _typed(max_exp_avg_sqs, t, SCODE) if AMSGRAD else None)
    scalars = (lr, beta1, beta2, eps, weight_decay, bc1, bc2_sqrt)
    if full:
        _adam_update(ptrs, offs, None, scalars, L2, DECOUPLED, AMSGRAD, MAXIMIZE)
    else:
        _adam_update(ptrs, offs, m, scalars, L2, DECOUPLED, AMSGRAD, MAXIMIZE)


@triton.jit
def _adam_update(ptrs, offs, m, scalars, L2: tl.constexpr, DECOUPLED: tl.constexpr, AMSGRAD: tl.constexpr,
                 MAXIMIZE: tl.constexpr):
    p_ptr, g_ptr, m_ptr, v_ptr, mx_ptr = ptrs
    lr, beta1, beta2, eps, weight_decay, bc1, bc2_sqrt = scalars
    p = tl.load(p_ptr + offs, mask=m).to(tl.float32)
    g = tl.load(g_ptr + offs, mask=m).to(tl.float32)
    exp_avg = tl.load(m_ptr + offs, mask=m).to(tl.float32)
    exp_avg_sq = tl.load(v_ptr + offs, mask=m).to(tl.float32)
    if MAXIMIZE:
        g = -g
    if L2:
        g = g + p * weight_decay
    if DECOUPLED:
        p = p - lr * weight_decay * p
    # PyTorch's fused kernel spells the moving averages as fmas: beta * avg + (x - beta * x)
    exp_avg = tl.fma(beta1 + tl.zeros_like(g), exp_avg, tl.fma(-beta1 + tl.zeros_like(g), g, g))
    g2 = g * g
    exp_avg_sq = tl.fma(beta2 + tl.zeros_like(g), exp_avg_sq, tl.fma(-beta2 + tl.zeros_like(g), g2, g2))
    step_size = tl.div_rn(lr + tl.zeros_like(p), bc1 + tl.zeros_like(p))
    if AMSGRAD:
        mx = tl.maximum(tl.load(mx_ptr + offs, mask=m).to(tl.float32), exp_avg_sq)
        tl.store(mx_ptr + offs, mx.to(mx_ptr.dtype.element_ty), mask=m)
        root = tl.sqrt_rn(mx)
    else:
        root = tl.sqrt_rn(exp_avg_sq)
    denom = tl.div_rn(root, bc2_sqrt + tl.zeros_like(p)) + eps
    p = p - tl.div_rn(step_size * exp_avg, denom)
    tl.store(p_ptr + offs, p.to(p_ptr.dtype.element_ty), mask=m)
    tl.store(m_ptr + offs, exp_avg.to(m_ptr.dtype.element_ty), mask=m)
    tl.store(v_ptr + offs, exp_avg_sq.to(v_ptr.dtype.element_ty), mask=m)


@triton.jit
def sgd(params, grads, momentum_buffers, numels, first_tile, tile_tensor, lr, momentum, dampening, weight_decay,
        PCODE: tl.constexpr, WEIGHT_DECAY: tl.constexpr, MOMENTUM: tl.constexpr, FIRST: tl.constexpr,
        NESTEROV: tl.constexpr, MAXIMIZE: tl.constexpr, BLOCK: tl.constexpr):
    """One SGD step, PyTorch's fused formula. FIRST: the momentum buffers are new and take the gradient."""
    pid, t, offs, m, full = _tile(numels, first_tile, tile_tensor, BLOCK)
    ptrs = (_typed(params, t, PCODE), _typed(grads, t, PCODE),
            _typed(momentum_buffers, t, PCODE) if MOMENTUM else None)
    scalars = (lr, momentum, dampening, weight_decay)
    if full:
        _sgd_update(ptrs, offs, None, scalars, WEIGHT_DECAY, MOMENTUM, FIRST, NESTEROV, MAXIMIZE)
    else:
        _sgd_update(ptrs, offs, m, scalars, WEIGHT_DECAY, MOMENTUM, FIRST, NESTEROV, MAXIMIZE)


@triton.jit
def _sgd_update(ptrs, offs, m, scalars, WEIGHT_DECAY: tl.constexpr, MOMENTUM: tl.constexpr, FIRST: tl.constexpr,
                NESTEROV: tl.constexpr, MAXIMIZE: tl.constexpr):
    p_ptr, g_ptr, b_ptr = ptrs
    lr, momentum, dampening, weight_decay = scalars
    p = tl.load(p_ptr + offs, mask=m).to(tl.float32)
    g = tl.load(g_ptr + offs, mask=m).to(tl.float32)
    if MAXIMIZE:
        g = -g
    if WEIGHT_DECAY:
        g = g + weight_decay * p
    if MOMENTUM:
        if FIRST:
            buf = g
        else:
            buf = momentum * tl.load(b_ptr + offs, mask=m).to(tl.float32) + (1.0 - dampening) * g
        tl.store(b_ptr + offs, buf.to(b_ptr.dtype.element_ty), mask=m)
        if NESTEROV:
            g = g + momentum * buf
        else:
            g = buf
    p = p - lr * g
    tl.store(p_ptr + offs, p.to(p_ptr.dtype.element_ty), mask=m)


@triton.jit
def step_increment(steps, n, BLOCK: tl.constexpr):
    """Adds one to every float32 step tensor of the table (one program)."""
    for start in range(0, n, BLOCK):
        i = start + tl.arange(0, BLOCK)
        ptrs = tl.load(steps + i, mask=i < n, other=0).to(tl.pointer_type(tl.float32))
        tl.store(ptrs, tl.load(ptrs, mask=i < n) + 1.0, mask=i < n)


@triton.jit
def norm_partials(grads, numels, first_tile, tile_tensor, partials, GCODE: tl.constexpr, ORD: tl.constexpr,
                  BLOCK: tl.constexpr):
    """partials[p] <- tile p's sum of squares (ORD 2), sum of magnitudes (ORD 1) or largest magnitude (ORD 0)."""
    pid, t, offs, m, full = _tile(numels, first_tile, tile_tensor, BLOCK)
    g_ptr = _typed(grads, t, GCODE)
    if full:
        a = tl.abs(tl.load(g_ptr + offs).to(tl.float32))
    else:
        a = tl.abs(tl.load(g_ptr + offs, mask=m, other=0.0).to(tl.float32))
    if ORD == 2:
        r = tl.sum(a * a, axis=0)
    elif ORD == 1:
        r = tl.sum(a, axis=0)
    else:
        r = tl.max(a, axis=0)
    tl.store(partials + pid, r)


@triton.jit
def norm_finish(partials, n, total, scale, max_norm, ORD: tl.constexpr, BLOCK: tl.constexpr):
    """total <- the norm from the partials; scale <- min(1, max_norm / (total + 1e-6)) (one program). NaN
    stays NaN (comparisons, not min/max), as PyTorch's clamp keeps it."""
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for start in range(0, n, BLOCK):
        i = start + tl.arange(0, BLOCK)
        x = tl.load(partials + i, mask=i < n, other=0.0)
        if ORD == 0:
            acc = tl.where(x > acc, x, acc)
        else:
            acc = acc + x
    if ORD == 0:
        s = tl.max(acc, axis=0)
    else:
        s = tl.sum(acc, axis=0)
    if ORD == 2:
        s = tl.sqrt_rn(s)
    tl.store(total, s)
    c = tl.div_rn(max_norm, s + 1e-6)
    tl.store(scale, tl.where(c > 1.0, 1.0, c))


@triton.jit
def _scale(g_ptr, offs, m, s):
    g = tl.load(g_ptr + offs, mask=m).to(tl.float32)
    tl.store(g_ptr + offs, (g * s).to(g_ptr.dtype.element_ty), mask=m)


@triton.jit
def scale_by(grads, numels, first_tile, tile_tensor, scale, GCODE: tl.constexpr, BLOCK: tl.constexpr):
    """grads *= scale[0], the scale rounded to the gradient's dtype first (PyTorch multiplies in that dtype)."""
    pid, t, offs, m, full = _tile(numels, first_tile, tile_tensor, BLOCK)
    g_ptr = _typed(grads, t, GCODE)
    s = tl.load(scale).to(g_ptr.dtype.element_ty).to(tl.float32)
    if full:
        _scale(g_ptr, offs, None, s)
    else:
        _scale(g_ptr, offs, m, s)


@triton.jit
def write_entries(table, start, count, a0, a1, a2, a3, a4, a5, a6, a7):
    """table[start + i] <- a_i for i < count. Addresses passed by value: a CUDA graph that captured this
    replays them, where a copy from host memory would need a host allocation during the capture."""
    i = tl.arange(0, 8)
    v = tl.where(i == 0, a0, tl.where(i == 1, a1, tl.where(i == 2, a2, tl.where(i == 3, a3, tl.where(
        i == 4, a4, tl.where(i == 5, a5, tl.where(i == 6, a6, a7)))))))
    tl.store(table + start + i, v, mask=i < count)
