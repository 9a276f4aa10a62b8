// Out-of-range indices on the GPU: a recorded IndexError instead of a device fault. Invalid distributions
// given to multinomial are recorded the same way and raised as ValueError (like the CPU's, later).
//
// Every device has a small status word in device memory (int64[4]: flag, bad value, dim size, op << 32 | dim).
// An indexing kernel that meets an index outside its range skips that element, and the first such kernel to
// claim the flag (atomic compare-and-swap 0 -> 1) records what it saw. Nothing waits for that on the launch
// path. The host reads the word (a 32-byte device-to-host copy) at synchronization points — stream, device
// and event synchronize, and so .item()/.cpu()/.tolist() — but only while an indexing kernel ran on that
// stream since its last check; a recorded error is cleared and raised as
//     IndexError: index 7 is out of bounds for dimension 0 with size 5 (index_select on cuda:0)
// so the runtime stays usable. With VIBETENSOR_CUDA_SYNC_CHECKS=1 (read once) every indexing launch synchronizes
// its stream and checks right away, so the error points at the op that caused it.
#pragma once
#include <cstdint>

#include "cuda/stream.h"

namespace vt::cuda {

// The op an error is reported for (kernels receive `code << 32`; keep in step with kIndexOpNames).
// Multinomial records (flag, row, what is wrong: kInvalidProbability or kZeroSum, code) instead.
enum class IndexOp : int64_t {
  IndexSelect = 1, Embedding, Index, IndexPut, IndexAdd, Gather, Scatter, ScatterAdd, OneHot, CrossEntropy,
  Multinomial
};
enum : int64_t { kInvalidProbability = 0, kZeroSum = 1 };

// The device's status word (allocated and zeroed on first use; never freed), for a kernel argument.
void* index_error_word(int device);
// Call after launching a kernel that may record into the word on `s`: arms the check at s's next
// synchronization (or synchronizes and checks now under VIBETENSOR_CUDA_SYNC_CHECKS=1).
void note_index_launch(const Stream& s);
// After `s` was synchronized: raises the recorded IndexError, if any (cheap when nothing indexing ran on s).
void check_index_errors(const Stream& s);
// After an event or the whole device was synchronized. all_done: every stream of the device is idle.
void check_index_errors_on_device(int device, bool all_done);

}  // namespace vt::cuda
