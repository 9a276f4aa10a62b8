"""The CPU kernels' vector paths (SSE2, AVX2+FMA, AVX-512), each forced in a subprocess through
VIBETENSOR_CPU_CAPABILITY: float32 GELU (cpu/activations.h: fitted polynomials and one exp, no erf), the tanh
GELU, SiLU, sigmoid, tanh and exp (exp over the whole float range, subnormal results included) and their
gradients against float64 on a dense grid and on random values, in every
layout, and the GEMM on each path; LayerNorm and RMSNorm give the same bits on every path."""
import json
import os
import subprocess
import sys

import pytest

import vibetensor as vt

SCRIPT = r"""
import json, math, sys
import numpy as np
from scipy.special import ndtr
import vibetensor as vt

gen = np.random.default_rng(int(sys.argv[1]))
x = np.concatenate([np.linspace(-16, 16, 20001), gen.standard_normal(20000) * 4]).astype(np.float32)
xd = x.astype(np.float64)
dy = gen.standard_normal(x.size).astype(np.float32)
want_y = xd * ndtr(xd)
want_dx = dy * (ndtr(xd) + xd * np.exp(-xd * xd / 2) / math.sqrt(2 * math.pi))

def worst(got, want):  # the largest error as a fraction of the float32 tolerance (rtol 1e-5, atol 1e-6)
    return float((np.abs(got.astype(np.float64) - want) / (1e-6 + 1e-5 * np.abs(want))).max())

t = vt.tensor(x, requires_grad=True)
y = vt.gelu(t)
y.backward(vt.tensor(dy))
out = {"capability": vt.backends.cpu.get_cpu_capability(), "y": worst(y.detach().numpy(), want_y),
       "dx": worst(t.grad.numpy(), want_dx)}
# the sigmoid family: (function, float64 value, float64 derivative)
sig = 1 / (1 + np.exp(-xd))
k, c = math.sqrt(2 / math.pi), 0.044715
th = np.tanh(k * (xd + c * xd ** 3))
family = {
    "sigmoid": (vt.sigmoid, sig, sig * (1 - sig)),
    "silu": (vt.nn.functional.silu, xd * sig, sig * (1 + xd * (1 - sig))),
    "gelu_tanh": (lambda v: vt.gelu(v, approximate="tanh"), 0.5 * xd * (1 + th),
                  0.5 * (1 + th) + 0.5 * xd * (1 - th ** 2) * k * (1 + 3 * c * xd ** 2)),
}
family["tanh"] = (vt.tanh, np.tanh(xd), 1 - np.tanh(xd) ** 2)
family["exp"] = (vt.exp, np.exp(xd), np.exp(xd))
for name, (fn, value, slope) in family.items():
    t = vt.tensor(x, requires_grad=True)
    y = fn(t)
    y.backward(vt.tensor(dy))
    out[name] = max(worst(y.detach().numpy(), value), worst(t.grad.numpy(), dy * slope))
# other layouts: a transposed view, a broadcast gradient (what .sum().backward() hands gelu's derivative)
m = vt.tensor(x[:40000].reshape(200, 200))
out["transposed_same"] = bool(np.array_equal(vt.gelu(m.t()).t().numpy(), vt.gelu(m).numpy()))
s = vt.tensor(x[:40000], requires_grad=True)
vt.gelu(s).sum().backward()
out["broadcast_dx"] = worst(s.grad.numpy(), ndtr(xd[:40000]) + xd[:40000] * np.exp(-xd[:40000] ** 2 / 2) / math.sqrt(2 * math.pi))
# exp over the whole float range, in ulps of the float32 result: overflow, subnormal results, underflow
wide = np.linspace(-110, 95, 200001).astype(np.float32)
want = np.exp(wide.astype(np.float64))
got = vt.tensor(wide).exp().numpy().astype(np.float64)
fits = want < np.finfo(np.float32).max
ulp = np.spacing(np.minimum(want[fits], np.finfo(np.float32).max).astype(np.float32)).astype(np.float64)
out["exp_ulps"] = float((np.abs(got[fits] - want[fits]) / ulp).max())
out["exp_overflow"] = bool(np.isinf(got[~fits]).all())
out["exp_special"] = vt.tensor([float("inf"), -float("inf"), -0.0]).exp().tolist()
out["tanh_special"] = vt.tensor([float("inf"), -float("inf"), -0.0]).tanh().tolist()
out["special"] = vt.gelu(vt.tensor([float("-inf"), float("inf"), -20.0, 0.0, -0.0])).tolist()
out["nan"] = bool(math.isnan(vt.gelu(vt.tensor([float("nan")])).item()))
a, b = gen.standard_normal((67, 45)).astype(np.float32), gen.standard_normal((45, 83)).astype(np.float32)
out["gemm"] = float(np.abs((vt.tensor(a) @ vt.tensor(b)).numpy() - a.astype(np.float64) @ b).max())
print(json.dumps(out))
"""


NORMS = r"""
import hashlib, sys
import numpy as np
import vibetensor as vt

gen = np.random.default_rng(int(sys.argv[1]))
digest = hashlib.sha256()
for dtype in (vt.float32, vt.bfloat16):
    for rows, n in ((512, 48), (37, 100), (5, 1000)):
        x, dy = (vt.tensor(gen.standard_normal((rows, n)).astype(np.float32)).to(dtype) for _ in range(2))
        w, b = (vt.tensor(gen.standard_normal(n).astype(np.float32)).to(dtype) for _ in range(2))
        y, mean, rstd = vt.ops.native_layer_norm(x, [n], w, b, 1e-5)
        ry, rrstd = vt.ops._fused_rms_norm(x, [n], w, 1e-5)
        outs = [y, mean, rstd, *vt.ops.native_layer_norm_backward(dy, x, [n], mean, rstd, w, True), ry, rrstd,
                *vt.ops._fused_rms_norm_backward(dy, x, [n], rrstd, w)]
        for t in outs:
            digest.update(t.to(vt.float64).numpy().tobytes())
print(digest.hexdigest())
"""


def run_capped(cap, seed, script=SCRIPT):
    env = dict(os.environ, VIBETENSOR_CPU_CAPABILITY=cap)
    r = subprocess.run([sys.executable, "-c", script, str(seed)], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout) if script is SCRIPT else r.stdout.strip()


def test_norms_give_the_same_bits_on_every_vector_path():
    """csrc/cpu/norm.cpp runs its row loops as written or as an AVX2 copy: the same operations in the same order
    (16 explicit lanes, no FMA), so every path must agree to the bit (their accuracy: tests/nn/test_norm_cpu.py)."""
    seed = int.from_bytes(os.urandom(4), "little")
    digests = {cap: run_capped(cap, seed, NORMS) for cap in ("sse2", "avx2", "avx512")}
    assert len(set(digests.values())) == 1, (seed, digests)


@pytest.mark.parametrize("cap", ["sse2", "avx2", "avx512"])
def test_activations_and_gemm_on_every_vector_path(cap):
    pytest.importorskip("scipy")
    seed = int.from_bytes(os.urandom(4), "little")
    out = run_capped(cap, seed)
    levels = ["DEFAULT", "AVX2", "AVX512"]  # torch.backends.cpu.get_cpu_capability()'s names
    best = vt.backends.cpu.get_cpu_capability()
    # the cap holds, and never lifts the path above what the CPU has
    asked = levels.index("DEFAULT" if cap == "sse2" else cap.upper())
    assert out["capability"] == levels[min(asked, levels.index(best))], out
    assert out["y"] < 0.5 and out["dx"] < 0.5 and out["broadcast_dx"] < 0.5, (seed, out)
    assert out["sigmoid"] < 0.5 and out["silu"] < 0.5 and out["gelu_tanh"] < 0.5, (seed, out)
    assert out["tanh"] < 0.5 and out["exp"] < 0.5, (seed, out)
    assert out["exp_ulps"] <= 2 and out["exp_overflow"] and out["exp_special"] == [float("inf"), 0.0, 1.0], out
    assert out["tanh_special"] == [1.0, -1.0, -0.0] and str(out["tanh_special"][2]) == "-0.0", out
    assert out["transposed_same"], out
    assert out["special"][1:] == [float("inf"), -0.0, 0.0, -0.0] and out["nan"], out
    assert out["gemm"] < 1e-4, out


def test_an_unknown_capability_is_a_clear_error():
    env = dict(os.environ, VIBETENSOR_CPU_CAPABILITY="avx9000")
    r = subprocess.run([sys.executable, "-c", "import vibetensor as vt; vt.gelu(vt.ones(3))"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "VIBETENSOR_CPU_CAPABILITY='avx9000' is invalid" in r.stderr
