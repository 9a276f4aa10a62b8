"""The op fuzzer's findings, each shrunk to the smallest call that showed it, kept as plain regression tests."""
import math

import pytest

import vibetensor as vt


def test_relu_keeps_nan():
    # relu was `x > 0 ? x : 0`, which maps NaN to 0; PyTorch (and the float64 reference) keep NaN
    out = vt.relu(vt.tensor([math.nan, -1.0, 0.5])).tolist()
    assert math.isnan(out[0]) and out[1:] == [0.0, 0.5]
    x = vt.tensor([math.nan], dtype=vt.float16)
    assert math.isnan(x.relu_().float().item())


def test_movedim_of_a_0d_tensor():
    # indexed empty per-dim tables with the wrapped dim 0: a segfault
    x = vt.tensor(2.0)
    assert x.movedim(0, 0).shape == () and x.movedim(-1, 0).item() == 2.0
    with pytest.raises(IndexError, match="dimension out of range"):
        x.movedim(1, 0)


@pytest.mark.parametrize("dtype", [vt.uint8, vt.int8, vt.int64, vt.bool])
def test_negative_number_exponent_of_an_integer_tensor_raises(dtype):
    # uint8 ** -1 cast the -1 to 255 and returned 43 ** 255 mod 256 (131), out of place and in place
    x = vt.tensor([43 if dtype != vt.bool else 1]).to(dtype)
    with pytest.raises(ValueError, match="negative integer powers"):
        x.pow(-1)
    if dtype != vt.bool:  # (bool ** int promotes to int64, which cannot be written back into bool)
        with pytest.raises(ValueError, match="negative integer powers"):
            x.clone().pow_(-2)
        assert (2 ** vt.tensor([3]).to(dtype)).dtype == dtype
    assert x.pow(0.5).dtype == vt.float32
