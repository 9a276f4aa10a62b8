"""What the compiled kernels look like in PTX (sm_90, compiled in a subprocess: no GPU needed, and the tests'
TRITON_INTERPRET must not apply). Aligned keys (kernels/compile.py ALIGNED) are the plain key's source compiled
knowing the launcher checked the generator's aligned_args: 16-byte loads and stores where the plain key gets
one element per access. Strided elementwise layout f and the indexing kernels' "f" forms split positions by
multiplication, the others by division."""
import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("triton")

# key -> the widest global load and store, in bits, the aligned form must reach (plain forms reach 16 or 32)
KEYS = {
    "ew|gelu_backward|bfloat16,bfloat16|bfloat16|ccc|0": (128, 128),
    "ew|add|float32,float32|float32|ccs|1": (128, 128),  # the broadcast scalar input stays a scalar load
    "rng|dropout|bfloat16|bfloat16|c|v": (128, 128),
    "norm|fwd|ln|bfloat16|wb|4096": (128, 128),
    "norm|bwd|rms|bfloat16|w|4096": (128, 128),
    "soft|softmax|bfloat16|bfloat16|4096|w": (128, 128),
    "bact|fwd|gelu|bfloat16|8|256": (128, 128),
    "bact|bwd|gelu|bfloat16|1|8|256": (128, 128),
    "xent|fwd|bfloat16|4096": (128, 32),  # stores one fp32 loss and log-sum-exp per row
    "xent|bwd|bfloat16|4096": (128, 128),
    "mm|bfloat16|bfloat16|0|rrn|128|128|64": (128, 128),  # tiles by 16-byte cp.async (plain: b16 loads)
    "mm|float32|float32|1|rcn|128|128|32": (128, 128),
    "fab|rc|bfloat16|sum|2048": (128, 128),  # the Triton reduce-copy step of the ring
}

SCRIPT = r"""
import json, re, sys
from vibetensor.kernels import compile as C
out = {}
for key in json.loads(sys.argv[1]):
    widths = {}
    for form in ("", C.ALIGNED):
        ptx = C.compiled(key + form, 90).asm["ptx"]
        def widest(op):
            best = 0
            for m in re.finditer(r"\b" + op + r"\.global(?:\.[a-z0-9_]+)*?(?:\.v(\d))?\.[bfsu](\d+)\b", ptx):
                best = max(best, int(m.group(1) or 1) * int(m.group(2)))
            return best
        copies = [int(m, 0) * 8 for m in re.findall(r"cp\.async\.c[ag]\.shared\.global[^,]*,[^,]*,\s*(0x[0-9a-f]+|\d+)", ptx)]
        widths[form or "plain"] = (max([widest("ld"), *copies]), widest("st"))  # cp.async: pipelined loads
    out[key] = widths
print(json.dumps(out))
"""


def test_aligned_forms_move_16_bytes_per_access():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    done = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(list(KEYS))], env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    for key, (load, store) in KEYS.items():
        aligned = got[key]["@a16"]
        assert aligned[0] >= load and aligned[1] >= store, (key, got[key])
        plain = got[key]["plain"]
        assert plain[0] < aligned[0] or plain[1] < aligned[1], (key, got[key])  # without the facts: narrower


def test_aligned_suffix_on_a_family_without_aligned_args_is_a_clear_error():
    from vibetensor.kernels import compile as C
    with pytest.raises(KeyError, match="declares no aligned arguments"):
        C.compiled("rope|bfloat16|float32|0|0|4|16|32|0" + C.ALIGNED, 90)
    with pytest.raises(KeyError, match="only flat layouts"):
        C.compiled("ew|neg|float32|float32|g2t|0" + C.ALIGNED, 90)


DIVISIONS = r"""
import json, re, sys
from vibetensor.kernels import compile as C
print(json.dumps({k: len(re.findall(r"\b(?:div|rem)\.[su]\d+", C.compiled(k, 90).asm["ptx"])) for k in sys.argv[1:]}))
"""


# (32-bit form, 64-bit form) of kernels that split positions into coordinates
SPLITTING = [
    ("ew|mul|bfloat16,bfloat16|bfloat16|f3tt|0", "ew|mul|bfloat16,bfloat16|bfloat16|g3tt|0"),  # strided elementwise
    ("ixr|get|bfloat16|bfloat16|int64,int64|2|2|f", "ixr|get|bfloat16|bfloat16|int64,int64|2|2"),  # x[i, j]
    ("ixr|add|float32|float32|int64|1|1|f", "ixr|add|float32|float32|int64|1|1"),  # index_add_
    ("ixg|gather|float32|float32|t|3|f", "ixg|gather|float32|float32|t|3"),  # gather
    ("ixg|add|bfloat16|bfloat16|t|2|f", "ixg|add|bfloat16|bfloat16|t|2"),  # scatter_add_ by lines
]


def test_32_bit_forms_split_positions_without_division():
    # the "f" forms take int_divider's magic numbers: no division instruction is left (the others: 64-bit
    # ones, a long emulated sequence each, for every element)
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    keys = [k for pair in SPLITTING for k in pair]
    done = subprocess.run([sys.executable, "-c", DIVISIONS, *keys], env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    for fast, slow in SPLITTING:
        assert got[fast] == 0 and got[slow] > 0, (fast, got)
