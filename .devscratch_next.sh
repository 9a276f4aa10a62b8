#!/bin/bash
# Next session, first 4-GPU call on branch wip-push-twoshot (copy to .devscratch/ on that branch's checkout):
# build, fabric GPU tests (push all-reduce / reduce-scatter / all-gather), sweep, collectives vs NCCL.
cd "$(dirname "$0")"
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 PYTHONUNBUFFERED=1
t0=$(date +%s)
mkdir -p $OUT/r
CXX=/usr/bin/g++ CC=/usr/bin/gcc CMAKE_BUILD_PARALLEL_LEVEL=32 python3 -m pip install --no-build-isolation --no-deps -q -e . > /tmp/build.log 2>&1 || { tail -50 /tmp/build.log; exit 1; }
echo "build $(( $(date +%s) - t0 ))s"
timeout 120 python3 -m pytest -q -m cuda -p no:cacheprovider tests/fabric/test_cuda_transport.py tests/fabric/test_local_cuda.py > $OUT/tests.log 2>&1
echo "tests $(( $(date +%s) - t0 ))s: $(tail -1 $OUT/tests.log)"; grep -hE "^E  |^FAILED" $OUT/tests.log | cut -c1-200 | head -12
timeout 80 python3 -m vibetensor.launch --nproc-per-node gpu benchmarks/multigpu_oneshot_sweep.py > $OUT/sweep.log 2>&1; echo "sweep rc=$?"; grep -v wrote $OUT/sweep.log | tail -9
timeout 200 python3 -m vibetensor.launch --nproc-per-node gpu --timeout 190 benchmarks/multigpu_collectives.py --out $OUT/r/multigpu_collectives_4x.json > $OUT/coll.log 2>&1; echo "coll rc=$? $(( $(date +%s) - t0 ))s"
