"""The CUDA runtime: devices, streams, events, the caching allocator and copies. GPU tests are marked cuda."""
import numpy as np
import pytest

import vibetensor as vt
from helpers import rng

cuda = pytest.mark.cuda


def test_without_a_gpu_every_call_says_why():
    if vt.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert vt.cuda.device_count() == 0
    for call in (lambda: vt.ones(2).to("cuda"), vt.cuda.current_device, lambda: vt.cuda.Stream(),
                 lambda: vt.empty(2, device="cuda"), vt.cuda.memory_stats):
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            call()
    vt.cuda.empty_cache()  # a no-op without CUDA, as in PyTorch


@cuda
def test_devices_and_properties():
    n = vt.cuda.device_count()
    assert n >= 1 and vt.cuda.current_device() == 0
    p = vt.cuda.get_device_properties(0)
    assert p.total_memory > 1 << 30 and p.multi_processor_count > 0 and p.major >= 7
    assert vt.cuda.get_device_capability() == (p.major, p.minor)
    with pytest.raises(ValueError, match=f"CUDA device {n} does not exist"):
        vt.cuda.set_device(n)
    with vt.cuda.device(0):
        assert vt.cuda.current_device() == 0


@cuda
@pytest.mark.parametrize("dtype", [vt.float32, vt.float16, vt.bfloat16, vt.int64, vt.bool, vt.uint8])
def test_round_trip_copies(dtype):
    gen = rng()
    a = vt.tensor(gen.uniform(-3, 3, size=(37, 53))).to(dtype)
    g = a.to("cuda")
    assert g.device == "cuda:0" and g.dtype == dtype and g.is_cuda
    back = g.cpu()
    assert back.device == "cpu"
    assert np.array_equal(back.to(vt.float64).numpy(), a.to(vt.float64).numpy())
    g2 = vt.empty(37, 53, dtype=dtype, device="cuda")
    g2.copy_(g)  # device to device
    assert np.array_equal(g2.cpu().to(vt.float64).numpy(), a.to(vt.float64).numpy())
    h = vt.zeros(37, 53, dtype=vt.float64)
    h.copy_(g)  # device to host with a dtype change on the host
    assert np.array_equal(h.numpy(), a.to(vt.float64).numpy())
    z = vt.zeros(5, dtype=dtype, device="cuda")
    assert z.cpu().to(vt.float64).tolist() == [0.0] * 5


@cuda
def test_host_to_device_converts_and_transposed_sources():
    gen = rng()
    a = vt.tensor(gen.normal(size=(8, 6)))  # float64 on the host
    g = vt.empty(6, 8, dtype=vt.float32, device="cuda")
    g.copy_(a.t())  # transpose and convert on the host, then one transfer
    np.testing.assert_allclose(g.cpu().numpy(), a.t().numpy().astype(np.float32))
    np.testing.assert_allclose(g.t().cpu().numpy(), a.numpy().astype(np.float32))  # strided read back


@cuda
def test_streams_events_and_timing():
    s = vt.cuda.Stream()
    hi = vt.cuda.Stream(priority=-1)
    assert s != vt.cuda.default_stream() and hi.priority <= 0
    assert vt.cuda.current_stream() == vt.cuda.default_stream()
    with vt.cuda.stream(s):
        assert vt.cuda.current_stream() == s
        x = vt.ones(1 << 20).to("cuda")
        start, end = vt.cuda.Event(enable_timing=True), vt.cuda.Event(enable_timing=True)
        start.record()
        y = vt.empty(1 << 20, device="cuda")
        for _ in range(10):
            y.copy_(x)
        end.record()
    assert vt.cuda.current_stream() == vt.cuda.default_stream()
    end.synchronize()
    assert end.query() and s.query()
    assert start.elapsed_time(end) > 0
    vt.cuda.default_stream().wait_stream(s)
    assert y.cpu().tolist()[:3] == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="enable_timing"):
        vt.cuda.Event().elapsed_time(vt.cuda.Event())


@cuda
def test_allocator_caches_splits_and_reports():
    vt.cuda.synchronize()
    vt.cuda.empty_cache()
    base = vt.cuda.memory_stats()
    a = vt.empty(1000, device="cuda")  # 4000 B, rounded to 4096, from a 2 MiB small segment
    b = vt.empty(1000, device="cuda")  # split from a small segment too
    st = vt.cuda.memory_stats()
    assert st["reserved_bytes"] - base["reserved_bytes"] in (0, 2 << 20)  # 0 when a cached segment had room
    assert st["allocated_bytes"] - base["allocated_bytes"] == 2 * 4096
    assert st["num_device_allocs"] - base["num_device_allocs"] <= 1
    pa = a.data_ptr()
    del a
    c = vt.empty(1000, device="cuda")  # reuses the freed block
    assert c.data_ptr() == pa
    assert vt.cuda.memory_stats()["num_cache_hits"] > base["num_cache_hits"]
    seg = [s for s in vt.cuda.memory_snapshot() if s["total_size"] == 2 << 20]
    assert seg and any(bl["state"] == "active_allocated" for bl in seg[0]["blocks"])
    big = vt.empty(64 << 20, dtype=vt.uint8, device="cuda")
    assert vt.cuda.memory_allocated() >= 64 << 20
    del big, b, c
    assert vt.cuda.memory_allocated() == base["allocated_bytes"]
    vt.cuda.empty_cache()
    assert vt.cuda.memory_reserved() == base["reserved_bytes"]
    assert vt.cuda.max_memory_allocated() >= 64 << 20


@cuda
def test_record_stream_delays_reuse():
    s = vt.cuda.Stream()
    x = vt.empty(1 << 20, device="cuda")
    p = x.data_ptr()
    x.record_stream(s._s)
    with vt.cuda.stream(s):
        y = vt.ones(1 << 20).to("cuda")  # work queued on s that uses memory
    del x  # freed while s may still be busy: the block waits for s's event
    s.synchronize()
    z = vt.empty(1 << 20, device="cuda")  # after the event completed, the block can come back
    assert z.data_ptr() in (p, z.data_ptr())
    del y
    with pytest.raises(ValueError, match="expected a CUDA tensor"):
        vt.ones(2).record_stream(s._s)


@cuda
def test_oom_ladder_and_recovery():
    free, total = vt.cuda.mem_get_info()
    with pytest.raises(vt.cuda.OutOfMemoryError, match=r"CUDA out of memory. Tried to allocate .* is free"):
        vt.empty(int(total * 2), dtype=vt.uint8, device="cuda")
    assert vt.cuda.memory_stats()["num_ooms"] >= 1
    x = vt.ones(1000).to("cuda")  # the process keeps working
    assert x.cpu().sum().item() == 1000
    vt.cuda.set_per_process_memory_fraction(0.01)
    try:
        with pytest.raises(vt.cuda.OutOfMemoryError, match="set_per_process_memory_fraction"):
            vt.empty(int(total * 0.02), dtype=vt.uint8, device="cuda")
    finally:
        vt.cuda.set_per_process_memory_fraction(1.0)
    with pytest.raises(ValueError, match="fraction must be in"):
        vt.cuda.set_per_process_memory_fraction(1.5)


@cuda
def test_ops_without_cuda_kernels_say_so():
    x = vt.ones(4).to("cuda")
    if not hasattr(vt.ops, "cudatest_cpu_only"):
        vt.library.define("cudatest::cpu_only(Tensor x) -> Tensor")
        vt.library.impl("cudatest::cpu_only", "cpu", lambda t: t + 1)
    with pytest.raises(NotImplementedError, match="has no kernel for cuda"):
        vt.ops.cudatest_cpu_only(x)
    with pytest.raises(TypeError, match="same device"):
        vt.ones(4) + x


@cuda
def test_stream_context_makes_its_device_current():
    """As in torch: inside `with vt.cuda.stream(s)` the current device is s's, so work that takes the current
    device (new tensors on "cuda", kernels launched by raw pointers) lands on s; both are restored after."""
    if vt.cuda.device_count() < 2:
        pytest.skip("needs two GPUs")
    s1 = vt.cuda.Stream(device=1)
    assert vt.cuda.current_device() == 0
    with vt.cuda.stream(s1):
        assert vt.cuda.current_device() == 1 and vt.cuda.current_stream() == s1
        x = vt.ones(1000, device="cuda") * 3
        assert x.device == vt.device("cuda", 1)
    assert vt.cuda.current_device() == 0 and vt.cuda.current_stream() == vt.cuda.default_stream()
    assert float(x.sum().item()) == 3000.0
